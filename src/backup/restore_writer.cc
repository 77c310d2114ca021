#include "backup/restore_writer.h"

#include <algorithm>
#include <chrono>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "net/address.h"
#include "proto/memcache/base64.h"

namespace trellis::backup {

namespace asio = boost::asio;

namespace {

// A key as the text protocol can carry it: as is, or base64 with the `b` flag.
bool NeedsBase64(std::string_view key) {
  return key.size() > 250 || std::any_of(key.begin(), key.end(), [](char c) {
           return static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) == 127;
         });
}

void AppendKey(std::string_view key, std::string* out) {
  out->append(NeedsBase64(key) ? proto::memcache::Base64Encode(key) : std::string(key));
}

void AppendRestoreSet(const std::string& key, const ItemState& item, std::string* out) {
  out->append("ms ");
  AppendKey(key, out);
  out->append(" ").append(std::to_string(item.value.size()));
  out->append(" F").append(std::to_string(item.client_flags));
  out->append(" T").append(std::to_string(item.exptime));
  out->append(NeedsBase64(key) ? " b q\r\n" : " q\r\n");
  out->append(item.value).append("\r\n");
}

void AppendRestoreDelete(const std::string& key, std::string* out) {
  out->append("md ");
  AppendKey(key, out);
  out->append(NeedsBase64(key) ? " b q\r\n" : " q\r\n");
}

// The batches of `plan` that are connection `part`'s: each batch is one connection's, in
// turn.
asio::awaitable<base::Status> WritePart(std::string access_address, asio::ip::tcp::endpoint access,
                                        const RestorePlan& plan, size_t part, WritePace pace) {
  asio::ip::tcp::socket socket(co_await asio::this_coro::executor);
  asio::steady_timer pause(co_await asio::this_coro::executor);
  const size_t batch =
      pace.keys_per_second == 0
          ? kRestoreBatch
          : std::clamp<size_t>(pace.keys_per_second / kRestoreConnections / 10, 1, kRestoreBatch);
  // This connection's share of the rate, in keys a second.
  const double share = static_cast<double>(pace.keys_per_second) / kRestoreConnections;
  const auto started = std::chrono::steady_clock::now();
  uint64_t sent = 0;
  auto [connect_error] = co_await socket.async_connect(access, asio::as_tuple(asio::use_awaitable));
  if (connect_error) {
    co_return base::Unavailable("restoring through " + access_address + ": " +
                                connect_error.message());
  }
  std::string out;
  std::string replies;
  const size_t total = plan.sets.size() + plan.deletes.size();
  for (size_t first = part * batch; first < total; first += batch * kRestoreConnections) {
    if (pace.keys_per_second != 0) {
      pause.expires_at(started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                     std::chrono::duration<double>(sent / share)));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    const size_t end = std::min(total, first + batch);
    out.clear();
    for (size_t i = first; i < end; ++i) {
      if (i < plan.sets.size()) {
        AppendRestoreSet(plan.sets[i].first, plan.sets[i].second, &out);
      } else {
        AppendRestoreDelete(plan.deletes[i - plan.sets.size()], &out);
      }
    }
    out.append("mn\r\n");  // Quiet writes answer only failures; MN ends the batch.
    auto [write_error, written] =
        co_await asio::async_write(socket, asio::buffer(out), asio::as_tuple(asio::use_awaitable));
    if (write_error) {
      co_return base::Unavailable("restoring through " + access_address + ": " +
                                  write_error.message());
    }
    auto [read_error, read] = co_await asio::async_read_until(
        socket, asio::dynamic_buffer(replies), "MN\r\n", asio::as_tuple(asio::use_awaitable));
    if (read_error) {
      co_return base::Unavailable("restoring through " + access_address + ": " +
                                  read_error.message());
    }
    if (read != 4) {
      co_return base::Error{"restoring through " + access_address + ": " +
                            replies.substr(0, replies.find('\r'))};
    }
    replies.erase(0, read);
    sent += end - first;
    if (pace.written != nullptr) {
      *pace.written += end - first;
    }
  }
  co_return base::Status();
}

}  // namespace

asio::awaitable<base::Status> WriteThroughAccess(std::string access, const RestorePlan& plan,
                                                 WritePace pace) {
  auto address = net::ParseHostPort(access);
  auto endpoint =
      address ? net::Resolve(*address) : base::Result<asio::ip::tcp::endpoint>(address.error());
  if (!endpoint) {
    co_return base::InvalidArgument("the access node " + access + ": " + endpoint.error().message);
  }
  using namespace asio::experimental::awaitable_operators;
  static_assert(kRestoreConnections == 4);
  const auto [a, b, c, d] = co_await (
      WritePart(access, *endpoint, plan, 0, pace) && WritePart(access, *endpoint, plan, 1, pace) &&
      WritePart(access, *endpoint, plan, 2, pace) && WritePart(access, *endpoint, plan, 3, pace));
  for (const base::Status& written : {a, b, c, d}) {
    if (!written) {
      co_return written.error();
    }
  }
  co_return base::Status();
}

}  // namespace trellis::backup
