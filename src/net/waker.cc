#include "net/waker.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace trellis::net {

namespace asio = boost::asio;

Waker::Waker(const asio::any_io_executor& executor) : timer_(executor) {}

asio::awaitable<void> Waker::Wait() { return WaitUntil(asio::steady_timer::time_point::max()); }

asio::awaitable<void> Waker::WaitUntil(std::chrono::steady_clock::time_point deadline) {
  if (!signaled_) {
    timer_.expires_at(deadline);
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  signaled_ = false;
}

void Waker::Wake() {
  signaled_ = true;
  timer_.cancel();
}

}  // namespace trellis::net
