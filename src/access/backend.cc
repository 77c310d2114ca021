#include "access/backend.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "net/address.h"
#include "net/client_stream.h"
#include "proto/memcache/response.h"

namespace trellis::access {

namespace asio = boost::asio;
using proto::memcache::ParseResponse;
using proto::memcache::Response;
using proto::memcache::ResponseKind;
using proto::memcache::ResponseStatus;

Backend::Backend(const asio::any_io_executor& executor, asio::ip::tcp::endpoint endpoint,
                 std::string group, BackendOptions options)
    : executor_(executor),
      endpoint_(std::move(endpoint)),
      group_(std::move(group)),
      options_(std::move(options)),
      write_waker_(executor),
      watchdog_timer_(executor) {}

std::shared_ptr<Backend> Backend::Create(const asio::any_io_executor& executor,
                                         asio::ip::tcp::endpoint endpoint, std::string group,
                                         BackendOptions options) {
  std::shared_ptr<Backend> backend(
      new Backend(executor, std::move(endpoint), std::move(group), std::move(options)));
  asio::co_spawn(executor, backend->Watchdog(backend), asio::detached);
  return backend;
}

Backend::~Backend() = default;

void Backend::Send(std::string_view request, ReplyTarget target, Mode mode) {
  const auto now = std::chrono::steady_clock::now();
  if (closed_ || (!running_ && now < retry_at_)) {
    target.slot->Complete(target.part, mode.silent_failure ? "" : FailureReply(last_failure_));
    return;
  }
  if (!running_) {
    running_ = true;
    asio::co_spawn(executor_, Run(generation_, shared_from_this()), asio::detached);
  }
  if (inflight_.empty()) {
    last_progress_ = now;
  }
  if (mode.map_version != 0 && mode.map_version != said_version_) {
    out_.append("mapv ").append(std::to_string(mode.map_version)).append("\r\n");  // No reply.
    said_version_ = mode.map_version;
  }
  out_.append(request);
  inflight_.push_back({std::move(target), mode.until_noop, mode.silent_failure, {}});
  write_waker_.Wake();
}

void Backend::Close() {
  closed_ = true;
  Fail("shutting down");
  watchdog_timer_.cancel();
}

std::string Backend::FailureReply(const std::string& reason) const {
  return "SERVER_ERROR backend " + net::FormatEndpoint(endpoint_) + " of group " + group_ +
         " unavailable: " + reason + "\r\n";
}

void Backend::Fail(const std::string& reason) {
  ++generation_;
  running_ = false;
  said_version_ = 0;  // The next connection is told again.
  last_failure_ = reason;
  retry_at_ = std::chrono::steady_clock::now() + options_.retry_interval;
  if (stream_) {
    boost::system::error_code ignored;
    stream_->tcp().socket().close(ignored);  // Its coroutines hold it until they see that.
    stream_.reset();
  }
  out_.clear();
  std::deque<Inflight> failed;
  failed.swap(inflight_);
  const std::string reply = FailureReply(reason);
  for (Inflight& request : failed) {
    request.target.slot->Complete(request.target.part, request.silent_failure ? "" : reply);
  }
  write_waker_.Wake();
}

asio::awaitable<void> Backend::Run(uint64_t generation, std::shared_ptr<Backend> self) {
  net::ClientStream::Peer peer = net::ClientStream::PeerAt(endpoint_);
  const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
  base::Result<net::ClientStream> opened =
      co_await net::ClientStream::Open(std::move(peer), options_.tls.get(), deadline);
  if (generation != generation_) {
    co_return;
  }
  if (!opened) {
    Fail(opened.error().message);
    co_return;
  }
  auto stream = std::make_shared<net::ClientStream>(std::move(opened).value());
  stream->tcp().socket().set_option(asio::ip::tcp::no_delay(true));
  stream_ = stream;
  asio::co_spawn(executor_, ReadLoop(generation, stream, self), asio::detached);
  while (generation == generation_) {
    if (out_.empty()) {
      co_await write_waker_.Wait();
      continue;
    }
    writing_.swap(out_);
    auto [write_error, written] = co_await asio::async_write(*stream, asio::buffer(writing_),
                                                             asio::as_tuple(asio::use_awaitable));
    writing_.clear();
    if (generation != generation_) {
      co_return;
    }
    if (write_error) {
      Fail(write_error.message());
      co_return;
    }
  }
}

asio::awaitable<void> Backend::ReadLoop(uint64_t generation,
                                        std::shared_ptr<net::ClientStream> stream,
                                        [[maybe_unused]] std::shared_ptr<Backend> self) {
  std::string buffer;
  size_t begin = 0;
  size_t end = 0;
  while (generation == generation_) {
    for (;;) {
      Response response;
      const std::string_view input(buffer.data() + begin, end - begin);
      const auto parsed = ParseResponse(input, &response);
      if (parsed.status == ResponseStatus::kNeedMore) {
        break;
      }
      if (parsed.status == ResponseStatus::kBad || inflight_.empty()) {
        Fail(parsed.status == ResponseStatus::kBad ? "malformed reply" : "reply to no request");
        co_return;
      }
      const std::string_view reply = input.substr(0, parsed.consumed);
      begin += parsed.consumed;
      last_progress_ = std::chrono::steady_clock::now();
      Inflight& front = inflight_.front();
      if (front.until_noop && response.kind != ResponseKind::kMetaNoop) {
        front.partial.append(reply);
        continue;
      }
      ReplyTarget target = std::move(front.target);
      std::string whole = front.until_noop ? std::move(front.partial) : std::string(reply);
      inflight_.pop_front();
      target.slot->Complete(target.part, std::move(whole));
    }
    if (begin == end) {
      begin = end = 0;
    } else if (begin > buffer.size() / 2) {
      buffer.erase(0, begin);
      end -= begin;
      begin = 0;
    }
    if (buffer.size() - end < 16 * 1024) {
      buffer.resize(std::max<size_t>(64 * 1024, buffer.size() * 2));
    }
    auto [read_error, read] =
        co_await stream->async_read_some(asio::buffer(buffer.data() + end, buffer.size() - end),
                                         asio::as_tuple(asio::use_awaitable));
    if (generation != generation_) {
      co_return;
    }
    if (read_error) {
      Fail(read_error == asio::error::eof ? "connection closed" : read_error.message());
      co_return;
    }
    end += read;
  }
}

asio::awaitable<void> Backend::Watchdog([[maybe_unused]] std::shared_ptr<Backend> self) {
  while (!closed_) {
    watchdog_timer_.expires_after(options_.timeout / 4);
    co_await watchdog_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!closed_ && !inflight_.empty() &&
        std::chrono::steady_clock::now() - last_progress_ > options_.timeout) {
      Fail("timed out");
    }
  }
}

}  // namespace trellis::access
