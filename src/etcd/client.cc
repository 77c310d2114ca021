#include "etcd/client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>

#include "etcd/wire.h"
#include "http/client.h"
#include "net/address.h"
#include "net/client_stream.h"

namespace trellis::etcd {

namespace asio = boost::asio;
namespace beast = boost::beast;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Client::State {
  // `member` could not be reached: the next call starts at the one after it, unless a
  // call meanwhile moved on already.
  void Failed(size_t member) {
    if (current == member) {
      current = (member + 1) % members.size();
    }
  }

  std::vector<std::string> urls;
  std::vector<http::Client> members;  // One per URL.
  std::shared_ptr<net::TlsClientContext> tls;
  size_t current = 0;  // The member that answered last. Invariant: < members.size().
};

base::Result<Client> Client::ForUrls(asio::any_io_executor executor,
                                     const std::vector<std::string>& urls,
                                     std::shared_ptr<net::TlsClientContext> tls) {
  if (urls.empty()) {
    return base::InvalidArgument("no etcd URL");
  }
  auto state = std::make_shared<State>();
  for (const std::string& url : urls) {
    auto member = http::Client::ForUrl(executor, url);
    if (!member) {
      return base::InvalidArgument("etcd URL '" + url + "': " + member.error().message);
    }
    if (url.starts_with("https://") && !tls) {
      return base::InvalidArgument("etcd URL '" + url + "' needs the members' CA");
    }
    member->set_tls(tls);
    state->urls.push_back(url);
    state->members.push_back(std::move(member).value());
  }
  state->tls = std::move(tls);
  return Client(std::move(state));
}

const std::string& Client::current_url() const { return state_->urls[state_->current]; }

asio::awaitable<base::Result<json>> Client::Post(std::string path, json body,
                                                 std::chrono::milliseconds timeout) {
  const std::shared_ptr<State> state = state_;  // Alive through the call.
  const std::string payload = body.dump();
  const Clock::time_point deadline = Clock::now() + timeout;
  base::Error last{"no etcd member answered", base::ErrorCode::kUnavailable};
  for (size_t tries = 0; tries < state->members.size(); ++tries) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left <= std::chrono::milliseconds(0)) {
      break;
    }
    const size_t index = state->current;
    http::Client& member = state->members[index];
    base::Result<http::Response> response =
        co_await member.Call(beast::http::verb::post, path, payload, left);
    if (response && response->status < 400) {
      state->current = index;
      const json reply = json::parse(response->body, nullptr, false);
      if (reply.is_discarded()) {
        co_return base::Error{"etcd " + member.address() + ": " + path + " answered no JSON"};
      }
      co_return reply;
    }
    last = response ? wire::ErrorOf(response->status, response->body) : response.error();
    if (last.code != base::ErrorCode::kUnavailable) {
      co_return last;  // etcd refused it: another member would too.
    }
    state->Failed(index);
  }
  co_return last;
}

asio::awaitable<base::Result<RangeReply>> Client::Get(std::string key,
                                                      std::chrono::milliseconds timeout) {
  json request = wire::RangeRequest(key, "");
  TRELLIS_CO_TRY(const json reply, co_await Post("/v3/kv/range", std::move(request), timeout));
  co_return wire::ParseRangeReply(reply);
}

asio::awaitable<base::Result<RangeReply>> Client::GetPrefix(std::string prefix,
                                                            std::chrono::milliseconds timeout) {
  json request = wire::RangeRequest(prefix, PrefixEnd(prefix));
  TRELLIS_CO_TRY(const json reply, co_await Post("/v3/kv/range", std::move(request), timeout));
  co_return wire::ParseRangeReply(reply);
}

asio::awaitable<base::Result<int64_t>> Client::Put(std::string key, std::string value,
                                                   std::chrono::milliseconds timeout) {
  json request = wire::PutRequest(key, value, 0);
  TRELLIS_CO_TRY(const json reply, co_await Post("/v3/kv/put", std::move(request), timeout));
  co_return wire::ParsePutReply(reply);
}

asio::awaitable<base::Result<TxnReply>> Client::Commit(Txn txn, std::chrono::milliseconds timeout) {
  json request = wire::TxnRequest(txn);
  TRELLIS_CO_TRY(const json reply, co_await Post("/v3/kv/txn", std::move(request), timeout));
  co_return wire::ParseTxnReply(reply);
}

asio::awaitable<base::Result<Lease>> Client::GrantLease(std::chrono::seconds ttl,
                                                        std::chrono::milliseconds timeout) {
  json request = wire::LeaseGrantRequest(ttl);
  TRELLIS_CO_TRY(const json reply, co_await Post("/v3/lease/grant", std::move(request), timeout));
  co_return wire::ParseLeaseGrantReply(reply);
}

asio::awaitable<base::Result<std::chrono::seconds>> Client::KeepAlive(
    int64_t lease, std::chrono::milliseconds timeout) {
  json request = wire::LeaseRequest(lease);
  TRELLIS_CO_TRY(const json reply,
                 co_await Post("/v3/lease/keepalive", std::move(request), timeout));
  co_return wire::ParseKeepAliveReply(reply);
}

asio::awaitable<base::Status> Client::RevokeLease(int64_t lease,
                                                  std::chrono::milliseconds timeout) {
  json request = wire::LeaseRequest(lease);
  base::Result<json> reply = co_await Post("/v3/lease/revoke", std::move(request), timeout);
  if (!reply && reply.error().code != base::ErrorCode::kNotFound) {
    co_return reply.error();
  }
  co_return base::Status();
}

asio::awaitable<base::Result<net::ClientStream>> Client::OpenStream(Clock::time_point deadline,
                                                                    size_t* member) {
  const std::shared_ptr<State> state = state_;
  base::Error last{"no etcd member answered", base::ErrorCode::kUnavailable};
  for (size_t tries = 0; tries < state->members.size() && Clock::now() < deadline; ++tries) {
    const size_t index = state->current;
    const bool https = state->urls[index].starts_with("https://");
    base::Result<net::HostPort> address = net::ParseHostPort(state->members[index].address());
    base::Result<asio::ip::tcp::endpoint> endpoint =
        address ? net::Resolve(*address) : base::Result<asio::ip::tcp::endpoint>(address.error());
    if (endpoint) {
      // As http::Client: the certificate must be for the host the URL names.
      net::ClientStream::Peer peer{address->host, {*endpoint}};
      base::Result<net::ClientStream> stream = co_await net::ClientStream::Open(
          std::move(peer), https ? state->tls.get() : nullptr, deadline);
      if (stream) {
        *member = index;
        co_return stream;
      }
      last = stream.error();
    } else {
      last = endpoint.error();
    }
    state->Failed(index);
  }
  co_return last;
}

asio::awaitable<base::Status> Client::Watch(std::string prefix, int64_t start_revision,
                                            std::function<void(const WatchBatch&)> on_batch,
                                            std::chrono::milliseconds connect_timeout) {
  const std::shared_ptr<State> state = state_;
  const Clock::time_point deadline = Clock::now() + connect_timeout;
  size_t index = 0;
  TRELLIS_CO_TRY(net::ClientStream stream, co_await OpenStream(deadline, &index));
  const std::string member = state->members[index].address();
  // Any end but a compaction or the caller's cancellation: the next watch starts at the
  // next member, since this one may be the reason (one cut off takes connections and
  // answers nothing).
  const auto broke = [&](std::string what, boost::system::error_code error = {}) {
    if (error != asio::error::operation_aborted) {
      state->Failed(index);
    }
    return base::Unavailable("etcd " + member + ": the watch " + what +
                             (error ? ": " + error.message() : ""));
  };
  beast::http::request<beast::http::string_body> request{beast::http::verb::post, "/v3/watch", 11};
  request.set(beast::http::field::host, member);
  request.set(beast::http::field::content_type, "application/json");
  request.body() = wire::WatchRequest(prefix, PrefixEnd(prefix), start_revision).dump();
  request.prepare_payload();
  stream.tcp().expires_at(deadline);
  auto [write_error, written] =
      co_await beast::http::async_write(stream, request, asio::as_tuple(asio::use_awaitable));
  if (write_error) {
    co_return broke("request failed", write_error);
  }
  beast::flat_buffer buffer;
  beast::http::response_parser<beast::http::string_body> parser;
  parser.body_limit(boost::none);
  auto [header_error, header_read] = co_await beast::http::async_read_header(
      stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
  if (header_error) {
    co_return broke("got no answer", header_error);
  }
  if (parser.get().result_int() != 200) {
    co_return broke("was answered with status " + std::to_string(parser.get().result_int()));
  }
  stream.tcp().expires_never();
  std::string pending;  // Received, not yet a whole line.
  // Named: the parser keeps a reference to it.
  auto take_chunk = [&pending](uint64_t, std::string_view body, boost::system::error_code&) {
    pending.append(body);
    return body.size();
  };
  parser.on_chunk_body(take_chunk);
  while (!parser.is_done()) {
    auto [read_error, read] = co_await beast::http::async_read_some(
        stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    if (read_error) {
      co_return broke("stream broke", read_error);
    }
    for (size_t end = pending.find('\n'); end != std::string::npos; end = pending.find('\n')) {
      const std::string line = pending.substr(0, end);
      pending.erase(0, end + 1);
      if (line.find_first_not_of(" \t\r") == std::string::npos) {
        continue;
      }
      base::Result<wire::WatchMessage> message = wire::ParseWatchMessage(line);
      if (!message) {
        co_return broke("stream: " + message.error().message);
      }
      if (message->canceled) {
        if (message->compact_revision != 0) {
          co_return base::Conflict("etcd compacted the revisions up to " +
                                   std::to_string(message->compact_revision));
        }
        co_return broke("was canceled: " + message->cancel_reason);
      }
      if (!message->events.empty()) {
        // The last event's revision, not the header's: replaying history, etcd sends at
        // most 1000 revisions a message, each with the header of the newest.
        const int64_t last = message->events.back().kv.mod_revision;
        on_batch(WatchBatch{last != 0 ? last : message->revision, std::move(message->events)});
      }
    }
  }
  co_return broke("ended");
}

}  // namespace trellis::etcd
