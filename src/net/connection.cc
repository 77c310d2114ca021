#include "net/connection.h"

#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "base/check.h"

namespace trellis::net {

namespace asio = boost::asio;

namespace {

// memcached starts with a 2 KiB read buffer; 4 KiB fits a typical pipelined batch.
constexpr size_t kInitialBuffer = 4096;
constexpr size_t kMinReadSpace = 2048;
// A buffer that grew for one huge request is given back once it has drained.
constexpr size_t kShrinkAbove = 256 * 1024;

}  // namespace

Connection::Connection(asio::ip::tcp::socket socket, int shard, const bool* draining)
    : socket_(std::move(socket)), shard_(shard), draining_(draining) {
  boost::system::error_code ec;
  peer_ = socket_.remote_endpoint(ec);
}

void Connection::Consume(size_t n) {
  TRELLIS_CHECK(n <= end_ - begin_);
  begin_ += n;
  if (begin_ == end_) {
    begin_ = end_ = 0;
  }
}

asio::awaitable<bool> Connection::ReadMore() {
  if (closed_ || (*draining_ && begin_ == end_)) {
    co_return false;
  }
  if (begin_ == end_ && buffer_.size() > kShrinkAbove) {
    std::vector<char>().swap(buffer_);
    begin_ = end_ = 0;
  }
  if (buffer_.size() - end_ < kMinReadSpace) {
    if (begin_ > 0) {
      std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (buffer_.size() - end_ < kMinReadSpace) {
      buffer_.resize(std::max(kInitialBuffer, buffer_.size() * 2));
    }
  }
  in_read_ = true;
  auto [ec, n] =
      co_await socket_.async_read_some(asio::buffer(buffer_.data() + end_, buffer_.size() - end_),
                                       asio::as_tuple(asio::use_awaitable));
  in_read_ = false;
  ++io_completions_;
  if (ec || n == 0 || closed_) {
    closed_ = true;
    co_return false;
  }
  end_ += n;
  co_return true;
}

asio::awaitable<bool> Connection::Write(std::string_view bytes) {
  if (closed_) {
    co_return false;
  }
  in_write_ = true;
  auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(bytes.data(), bytes.size()),
                                            asio::as_tuple(asio::use_awaitable));
  in_write_ = false;
  ++io_completions_;
  if (ec) {
    closed_ = true;
    co_return false;
  }
  co_return true;
}

void Connection::Abort() {
  closed_ = true;
  boost::system::error_code ec;
  socket_.cancel(ec);
  abort_signal_.emit(asio::cancellation_type::terminal);
}

void Connection::ShutdownSend() {
  boost::system::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
}

}  // namespace trellis::net
