#include "access/reply_slot.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace trellis::access {

namespace asio = boost::asio;

Waker::Waker(const asio::any_io_executor& executor) : timer_(executor) {}

asio::awaitable<void> Waker::Wait() {
  if (!signaled_) {
    timer_.expires_at(asio::steady_timer::time_point::max());
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  signaled_ = false;
}

void Waker::Wake() {
  signaled_ = true;
  timer_.cancel();
}

void ReplySlot::Complete(size_t part, std::string reply) {
  parts_[part] = std::move(reply);
  if (--parts_left_ > 0) {
    return;
  }
  reply_ = merge_ ? merge_(parts_) : std::move(parts_[0]);
  done_ = true;
  waker_->Wake();
}

}  // namespace trellis::access
