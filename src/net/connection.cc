#include "net/connection.h"

#include <cstring>
#include <tuple>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "base/check.h"
#include "net/tls_context.h"
#include "net/write.h"

namespace trellis::net {

namespace asio = boost::asio;

namespace {

// memcached starts with a 2 KiB read buffer; 4 KiB fits a typical pipelined batch.
constexpr size_t kInitialBuffer = 4096;
constexpr size_t kMinReadSpace = 2048;
// A buffer that grew for one huge request is given back once it has drained.
constexpr size_t kShrinkAbove = 256 * 1024;
// How long a closing TLS connection waits for the client's close_notify.
constexpr std::chrono::milliseconds kCloseNotifyWait{500};

}  // namespace

struct Connection::TlsStream {
  TlsStream(asio::ip::tcp::socket& socket, TlsServerContext& context)
      : stream(socket, context.context()) {}
  asio::ssl::stream<asio::ip::tcp::socket&> stream;
  bool established = false;  // The handshake completed and nothing broke since.
};

Connection::Connection(asio::ip::tcp::socket socket, int shard, const bool* draining)
    : socket_(std::move(socket)), shard_(shard), draining_(draining) {
  boost::system::error_code ec;
  peer_ = socket_.remote_endpoint(ec);
  socket_.non_blocking(true, ec);  // For WriteAll's first, immediate attempt.
}

Connection::~Connection() = default;

asio::awaitable<bool> Connection::StartTls(TlsServerContext& context) {
  TRELLIS_CHECK(tls_ == nullptr && begin_ == end_);
  tls_ = std::make_unique<TlsStream>(socket_, context);
  in_read_ = true;
  auto [ec] = co_await tls_->stream.async_handshake(asio::ssl::stream_base::server,
                                                    asio::as_tuple(asio::use_awaitable));
  in_read_ = false;
  ++io_completions_;
  if (ec || closed_) {
    closed_ = true;
    if (counters_ != nullptr) {
      counters_->tls_handshakes_failed->Increment();
    }
    co_return false;
  }
  tls_->established = true;
  co_return true;
}

asio::awaitable<void> Connection::Finish() {
  if (tls_ == nullptr || !tls_->established) {
    co_return;
  }
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(socket_.get_executor(), kCloseNotifyWait);
  co_await (tls_->stream.async_shutdown(asio::as_tuple(asio::use_awaitable)) ||
            timer.async_wait(asio::as_tuple(asio::use_awaitable)));
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
  const auto space = asio::buffer(buffer_.data() + end_, buffer_.size() - end_);
  boost::system::error_code ec;
  size_t n = 0;
  if (tls_ != nullptr) {
    std::tie(ec, n) =
        co_await tls_->stream.async_read_some(space, asio::as_tuple(asio::use_awaitable));
  } else {
    std::tie(ec, n) = co_await socket_.async_read_some(space, asio::as_tuple(asio::use_awaitable));
  }
  in_read_ = false;
  ++io_completions_;
  if (ec || n == 0 || closed_) {
    closed_ = true;
    co_return false;
  }
  end_ += n;
  if (counters_ != nullptr) {
    counters_->received->Increment(n);
  }
  co_return true;
}

asio::awaitable<bool> Connection::Write(std::string_view bytes) {
  if (closed_) {
    co_return false;
  }
  in_write_ = true;
  const auto data = asio::buffer(bytes.data(), bytes.size());
  boost::system::error_code ec;
  if (tls_ != nullptr) {
    std::tie(ec, std::ignore) =
        co_await asio::async_write(tls_->stream, data, asio::as_tuple(asio::use_awaitable));
  } else {
    ec = co_await WriteAll(socket_, bytes);
  }
  in_write_ = false;
  ++io_completions_;
  if (ec) {
    if (tls_ != nullptr) {
      tls_->established = false;  // No close_notify on a broken connection.
    }
    closed_ = true;
    co_return false;
  }
  if (counters_ != nullptr) {
    counters_->sent->Increment(bytes.size());
  }
  co_return true;
}

void Connection::Abort() {
  closed_ = true;
  if (tls_ != nullptr) {
    tls_->established = false;
  }
  boost::system::error_code ec;
  socket_.cancel(ec);
  abort_signal_.emit(asio::cancellation_type::terminal);
}

void Connection::ShutdownSend() {
  boost::system::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
}

}  // namespace trellis::net
