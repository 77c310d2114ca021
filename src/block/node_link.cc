#include "block/node_link.h"

#include <spdlog/spdlog.h>

#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "net/address.h"

namespace trellis::block {

namespace asio = boost::asio;
using proto::block::ParseStatus;
using proto::block::ReplyHeader;

std::shared_ptr<NodeLink> NodeLink::Create(const asio::any_io_executor& executor,
                                           asio::ip::tcp::endpoint endpoint,
                                           NodeLinkOptions options) {
  return std::shared_ptr<NodeLink>(new NodeLink(executor, std::move(endpoint), options));
}

asio::awaitable<base::Result<NodeLink::Reply>> NodeLink::Call(proto::block::RequestHeader header,
                                                              std::string_view payload) {
  const auto now = std::chrono::steady_clock::now();
  if (!stream_ && !connecting_ && now < retry_at_) {
    co_return base::Unavailable("storage node " + net::FormatEndpoint(endpoint_) +
                                " failed just now");
  }
  header.id = next_id_++;
  const uint64_t id = header.id;
  proto::block::AppendRequestHeader(header, &out_);
  out_.append(payload);
  const bool syncs =
      header.op == proto::block::Op::kFlush || (header.flags & proto::block::kFlagFua) != 0;
  auto pending = std::make_shared<Pending>(
      executor_, now + (syncs ? options_.sync_timeout : options_.timeout));
  pending->id = id;
  in_flight_.push_back(pending);
  auto self = shared_from_this();
  if (!stream_ && !connecting_) {
    connecting_ = true;
    asio::co_spawn(
        executor_, [self]() { return self->Connect(); }, asio::detached);
  } else if (stream_ && !writing_) {
    writing_ = true;
    asio::co_spawn(
        executor_, [self]() { return self->WriteLoop(); }, asio::detached);
  }
  for (;;) {
    // Answered in order: this waits for every older request, and only the oldest's
    // deadline says whether the node is late.
    const auto deadline = in_flight_.empty() ? pending->deadline : in_flight_.front()->deadline;
    co_await pending->done.WaitUntil(deadline);
    if (pending->result) {
      co_return std::move(*pending->result);
    }
    if (in_flight_.empty() || std::chrono::steady_clock::now() >= in_flight_.front()->deadline) {
      Fail("no reply in time");
      if (!pending->result) {
        co_return base::Unavailable("storage node " + net::FormatEndpoint(endpoint_) +
                                    ": no reply in time");
      }
    }
  }
}

asio::awaitable<void> NodeLink::Connect() {
  auto opened =
      co_await net::ClientStream::Open(net::ClientStream::PeerAt(endpoint_), nullptr,
                                       std::chrono::steady_clock::now() + options_.timeout);
  connecting_ = false;
  if (!opened) {
    Fail(opened.error().message);
    co_return;
  }
  stream_ = std::make_shared<net::ClientStream>(std::move(opened).value());
  stream_->tcp().socket().set_option(asio::ip::tcp::no_delay(true));
  ++generation_;
  auto self = shared_from_this();
  asio::co_spawn(
      executor_, [self]() { return self->ReadLoop(); }, asio::detached);
  if (!out_.empty() && !writing_) {
    writing_ = true;
    co_await WriteLoop();
  }
}

asio::awaitable<void> NodeLink::WriteLoop() {
  const uint64_t generation = generation_;
  const std::shared_ptr<net::ClientStream> stream = stream_;
  std::string writing;
  while (stream_ && generation == generation_ && !out_.empty()) {
    writing.swap(out_);
    auto [error, written] = co_await asio::async_write(*stream, asio::buffer(writing),
                                                       asio::as_tuple(asio::use_awaitable));
    if (error) {
      if (generation == generation_) {
        Fail("writing: " + error.message());
      }
      break;
    }
    writing.clear();
  }
  if (generation == generation_) {
    writing_ = false;
  }
}

asio::awaitable<void> NodeLink::ReadLoop() {
  const uint64_t generation = generation_;
  const std::shared_ptr<net::ClientStream> stream = stream_;
  // Replies are read into [begin, end) of one buffer, grown only for a reply larger than
  // it: a 4 KiB read's reply costs no clearing of a fresh 256 KiB.
  std::string buffer(256 * 1024, '\0');
  size_t begin = 0;
  size_t end = 0;
  for (;;) {
    // Every whole reply buffered goes to its request.
    size_t needed = proto::block::kReplyHeaderBytes;  // For the next reply, whole.
    for (;;) {
      const std::string_view input = std::string_view(buffer).substr(begin, end - begin);
      ReplyHeader header;
      const ParseStatus parsed = proto::block::ParseReplyHeader(input, &header);
      if (parsed == ParseStatus::kBadMagic || parsed == ParseStatus::kBadHeader) {
        Fail("a malformed reply");
        co_return;
      }
      if (parsed == ParseStatus::kOk) {
        needed = proto::block::kReplyHeaderBytes + header.length;
      }
      if (parsed == ParseStatus::kIncomplete || input.size() < needed) {
        break;
      }
      if (in_flight_.empty() || in_flight_.front()->id != header.id) {
        Fail("a reply to no request in flight");
        co_return;
      }
      std::shared_ptr<Pending> pending = std::move(in_flight_.front());
      in_flight_.pop_front();
      pending->result = Reply{
          header.status, std::string(input.substr(proto::block::kReplyHeaderBytes, header.length))};
      pending->done.Wake();
      begin += needed;
      needed = proto::block::kReplyHeaderBytes;
    }
    // What is left of a reply moves to the front, with room for all of it.
    if (begin > 0) {
      std::memmove(buffer.data(), buffer.data() + begin, end - begin);
      end -= begin;
      begin = 0;
    }
    if (buffer.size() < needed) {
      buffer.resize(needed);
    }
    if (!stream_ || generation != generation_) {
      co_return;
    }
    auto [error, read] =
        co_await stream->async_read_some(asio::buffer(buffer.data() + end, buffer.size() - end),
                                         asio::as_tuple(asio::use_awaitable));
    end += read;
    if (generation != generation_) {
      co_return;  // The connection failed meanwhile: its replies answer nothing now.
    }
    if (error) {
      Fail("reading: " + error.message());
      co_return;
    }
  }
}

void NodeLink::Fail(const std::string& why) {
  if (!in_flight_.empty() || stream_) {
    spdlog::warn("storage node {}: {}", net::FormatEndpoint(endpoint_), why);
  }
  if (stream_) {
    boost::system::error_code ignored;
    stream_->tcp().socket().close(ignored);
    stream_.reset();
  }
  ++generation_;
  writing_ = false;
  out_.clear();
  retry_at_ = std::chrono::steady_clock::now() + options_.retry_interval;
  const base::Error error =
      base::Unavailable("storage node " + net::FormatEndpoint(endpoint_) + ": " + why);
  for (const std::shared_ptr<Pending>& pending : in_flight_) {
    pending->result = error;
    pending->done.Wake();
  }
  in_flight_.clear();
}

}  // namespace trellis::block
