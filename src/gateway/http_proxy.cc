#include "gateway/http_proxy.h"

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <optional>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "gateway/deadline.h"
#include "gateway/upstream.h"
#include "net/write.h"
#include "proto/http/proxied_head.h"

namespace trellis::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

namespace {

constexpr size_t kReadBytes = 64 * 1024;

// Where the parsers put a body they decode (the proxy relays the body as it was framed and
// never reads this): one per thread, used only within a put() call.
std::array<char, kReadBytes>& Scratch() {
  thread_local std::array<char, kReadBytes> scratch;
  return scratch;
}

using RequestParser = bhttp::request_parser<bhttp::buffer_body>;

// A response parser that keeps none of the head's fields: the relay needs the status and
// the framing (Content-Length, chunked, keep-alive), which basic_parser tracks itself,
// and relays the bytes as they came. Beast's parser<false> would allocate a node per
// field (nginx sends eight) for nothing.
class ResponseFramer : public bhttp::basic_parser<false> {
 public:
  unsigned status() const { return status_; }

 private:
  void on_request_impl(bhttp::verb, beast::string_view, beast::string_view, int,
                       beast::error_code&) override {}
  void on_response_impl(int code, beast::string_view, int, beast::error_code&) override {
    status_ = static_cast<unsigned>(code);
  }
  void on_field_impl(bhttp::field, beast::string_view, beast::string_view,
                     beast::error_code&) override {}
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<uint64_t>&, beast::error_code&) override {}
  size_t on_body_impl(beast::string_view body, beast::error_code&) override { return body.size(); }
  void on_chunk_header_impl(uint64_t, beast::string_view, beast::error_code&) override {}
  size_t on_chunk_body_impl(uint64_t, beast::string_view body, beast::error_code&) override {
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}

  unsigned status_ = 0;
};

enum class HeadStatus { kOk, kClosed, kBad, kTooLarge };

// Feeds the client's input to `parser` until the request head is parsed. A connection's
// first byte must come within the first-byte timeout and its first head be whole within
// the head timeout of the connection's start (HAProxy's `timeout http-request`); a later
// head within the head timeout of its first byte (before it, the idle timeout governs).
// A head that arrives whole in one read arms no timer.
asio::awaitable<HeadStatus> ReadRequestHead(net::Connection& client, RequestParser& parser,
                                            Deadline& deadline, const LimitsConfig& limits,
                                            bool first_request) {
  const auto started = std::chrono::steady_clock::now();
  if (first_request) {
    deadline.AtStart(started, limits);
  }
  bool head_timed = false;  // The head timeout runs.
  for (;;) {
    if (!client.input().empty()) {
      beast::error_code error;
      const size_t used =
          parser.put(asio::buffer(client.input().data(), client.input().size()), error);
      client.Consume(used);
      if (parser.is_header_done()) {
        deadline.Cancel();
        co_return HeadStatus::kOk;
      }
      if (error == bhttp::error::header_limit) {
        co_return HeadStatus::kTooLarge;
      }
      if (error && error != bhttp::error::need_more) {
        co_return HeadStatus::kBad;
      }
    }
    if (!head_timed && !client.input().empty()) {
      // Part of a head is here: the rest within the head timeout.
      deadline.At((first_request ? started : std::chrono::steady_clock::now()) +
                  limits.head_timeout);
      head_timed = true;
    }
    if (!co_await client.ReadMore()) {
      co_return client.input().empty() ? HeadStatus::kClosed : HeadStatus::kBad;
    }
  }
}

// RFC 9110 section 9.2.2: a request that may be sent again without changing more than
// sending it once would.
bool IsIdempotent(bhttp::verb method) {
  switch (method) {
    case bhttp::verb::get:
    case bhttp::verb::head:
    case bhttp::verb::options:
    case bhttp::verb::trace:
    case bhttp::verb::put:
    case bhttp::verb::delete_:
      return true;
    default:
      return false;
  }
}

bool IsHopByHop(std::string_view name, std::string_view connection_tokens) {
  static constexpr std::array<std::string_view, 6> kHopByHop = {
      "connection", "keep-alive", "proxy-connection", "te", "upgrade", "expect"};
  for (std::string_view hop : kHopByHop) {
    if (beast::iequals(name, hop)) {
      return true;
    }
  }
  for (auto token : bhttp::token_list(connection_tokens)) {
    if (beast::iequals(name, token)) {
      return true;
    }
  }
  return false;
}

// The request head as it goes to the server: hop-by-hop fields dropped, the forwarding
// fields added.
std::string ServerHead(const bhttp::request<bhttp::buffer_body>& request,
                       const asio::ip::address& client, std::string_view scheme) {
  std::string head;
  head.reserve(512);
  head.append(request.method_string()).append(" ").append(request.target()).append(" HTTP/1.1\r\n");
  const std::string_view connection = request[bhttp::field::connection];
  std::string forwarded_for;
  std::string via;
  for (const auto& field : request) {
    const std::string_view name = field.name_string();
    if (IsHopByHop(name, connection) || beast::iequals(name, "x-forwarded-proto")) {
      continue;
    }
    if (beast::iequals(name, "x-forwarded-for")) {
      forwarded_for.append(field.value()).append(", ");
      continue;
    }
    if (beast::iequals(name, "via")) {
      via.append(field.value()).append(", ");
      continue;
    }
    head.append(name).append(": ").append(field.value()).append("\r\n");
  }
  head.append("X-Forwarded-For: ").append(forwarded_for).append(client.to_string()).append("\r\n");
  head.append("X-Forwarded-Proto: ").append(scheme).append("\r\n");
  head.append("Via: ")
      .append(via)
      .append(request.version() == 10 ? "1.0" : "1.1")
      .append(" trellis\r\n\r\n");
  return head;
}

// Writes `bytes` to the server; false if that failed.
asio::awaitable<bool> WriteServer(asio::ip::tcp::socket& server, std::string_view bytes) {
  const boost::system::error_code error = co_await net::WriteAll(server, bytes);
  co_return !error;
}

// Relays the rest of the request's body from the client, as it is framed. False if
// either side broke.
asio::awaitable<bool> RelayRequestBody(net::Connection& client, RequestParser& parser,
                                       asio::ip::tcp::socket& server) {
  while (!parser.is_done()) {
    if (!client.input().empty()) {
      parser.get().body().data = Scratch().data();
      parser.get().body().size = Scratch().size();
      beast::error_code error;
      const std::string_view input = client.input();
      const size_t used = parser.put(asio::buffer(input.data(), input.size()), error);
      if (error && error != bhttp::error::need_more && error != bhttp::error::need_buffer) {
        co_return false;
      }
      if (used > 0) {
        if (!co_await WriteServer(server, input.substr(0, used))) {
          co_return false;
        }
        client.Consume(used);
        continue;
      }
    }
    if (!co_await client.ReadMore()) {
      co_return false;
    }
  }
  co_return true;
}

enum class Relayed {
  kKeepAlive,     // The response went whole; the server connection can stay.
  kServerClosed,  // Went whole, delimited by the server's close (or it said close).
  kNoAnswer,      // The server closed before any byte of an answer.
  kTimeout,       // No response head within the server timeout: 504.
  kBad,           // A broken or malformed response before its head was relayed: 502.
  kBroken,        // Broken after bytes went to the client: only closing is left.
};

// The server's bytes not yet relayed: read into, parsed, relayed, consumed.
using ServerBuffer = beast::flat_buffer;

std::string_view View(const ServerBuffer& buffer) {
  return {static_cast<const char*>(buffer.data().data()), buffer.size()};
}

// The Connection field a response to `request` carries to the client: close when either
// side ends the connection after it; keep-alive for an HTTP/1.0 client that keeps it.
proto::http::ClientConnection ClientConnectionAfter(
    const ResponseFramer& response, const bhttp::request<bhttp::buffer_body>& request) {
  const unsigned status = response.status();
  if (status >= 100 && status < 200) {
    return proto::http::ClientConnection::kAsDefault;  // An interim response.
  }
  if (!request.keep_alive() || !response.keep_alive() || response.need_eof()) {
    return proto::http::ClientConnection::kClose;
  }
  return request.version() == 10 ? proto::http::ClientConnection::kKeepAlive
                                 : proto::http::ClientConnection::kAsDefault;
}

// Relays one response to `request` (and any 1xx before it) from the server to the client:
// its head without the server's hop-by-hop fields (proto/http/proxied_head.h), its body as
// framed. Its head must come within `timeout`, and each read of its body within `timeout`
// of the previous one: one timer for the exchange, which cancels the server's read when it
// fires.
asio::awaitable<Relayed> RelayResponse(asio::ip::tcp::socket& server, ServerBuffer& buffer,
                                       net::Connection& client,
                                       const bhttp::request<bhttp::buffer_body>& request,
                                       std::chrono::milliseconds timeout, unsigned* status) {
  asio::steady_timer guard(co_await asio::this_coro::executor);
  bool timed_out = false;
  auto arm = [&] {
    guard.expires_after(timeout);
    // Reads `server` and `timed_out` only when not cancelled: the guard is cancelled
    // (destroyed) before either goes.
    guard.async_wait([&server, &timed_out](const boost::system::error_code& error) {
      if (!error) {
        timed_out = true;
        boost::system::error_code ignored;
        server.cancel(ignored);
      }
    });
  };
  bool relayed_any = false;  // Bytes went to the client.
  for (;;) {                 // One message: 1xx ones come before the final one.
    ResponseFramer parser;
    parser.body_limit(boost::none);
    parser.skip(request.method() == bhttp::verb::head);
    bool at_end = false;
    bool armed = false;
    size_t head_bytes = 0;  // The head's, once parsed, until relayed.
    while (!parser.is_done()) {
      if (buffer.size() > 0 || at_end) {
        beast::error_code error;
        size_t used = 0;
        if (at_end) {
          parser.put_eof(error);
        }
        // All of the message that is here in one write: the parser stops after the
        // head, and a head and body written apart cost a system call more per response.
        while (!at_end && !parser.is_done() && used < buffer.size()) {
          const bool head_parsed = parser.is_header_done();
          const size_t parsed =
              parser.put(asio::buffer(View(buffer).data() + used, buffer.size() - used), error);
          used += parsed;
          if (!head_parsed && parser.is_header_done()) {
            head_bytes = used;  // The parser takes a head whole, and stops after it.
          }
          if (parsed == 0 || error) {
            break;
          }
        }
        if (error && error != bhttp::error::need_more && error != bhttp::error::need_buffer) {
          co_return relayed_any ? Relayed::kBroken : Relayed::kBad;
        }
        if (used > 0) {
          // Bytes of a head go once it is whole (a partial head is not yet relayed).
          std::string rewritten;
          std::string_view bytes = View(buffer).substr(0, used);
          if (head_bytes > 0) {
            rewritten.reserve(used + 32);
            proto::http::AppendProxiedHead(bytes.substr(0, head_bytes),
                                           ClientConnectionAfter(parser, request), rewritten);
            rewritten.append(bytes.substr(head_bytes));
            bytes = rewritten;
            head_bytes = 0;
          }
          if (!co_await client.Write(bytes)) {
            co_return Relayed::kBroken;
          }
          relayed_any = true;
          buffer.consume(used);
          continue;
        }
        if (at_end) {
          if (!error && parser.is_done()) {
            break;  // A body delimited by the server's close.
          }
          co_return relayed_any ? Relayed::kBroken : Relayed::kNoAnswer;
        }
      }
      if (!armed || parser.is_header_done()) {
        arm();  // The head within the timeout; then each read of the body.
        armed = true;
      }
      auto [error, read] = co_await server.async_read_some(buffer.prepare(kReadBytes),
                                                           asio::as_tuple(asio::use_awaitable));
      buffer.commit(read);
      if (timed_out) {
        co_return relayed_any ? Relayed::kBroken : Relayed::kTimeout;
      }
      if (error == asio::error::eof) {
        if (!relayed_any && buffer.size() == 0) {
          co_return Relayed::kNoAnswer;
        }
        at_end = true;
      } else if (error) {
        co_return relayed_any ? Relayed::kBroken : Relayed::kBad;
      }
    }
    *status = parser.status();
    if (*status >= 100 && *status < 200 && *status != 101) {
      continue;  // The final response follows.
    }
    co_return parser.keep_alive() && !parser.need_eof() && !at_end ? Relayed::kKeepAlive
                                                                   : Relayed::kServerClosed;
  }
}

}  // namespace

std::string HttpAnswer(unsigned status, std::string_view reason, bool close) {
  const std::string body = std::string(reason) + "\n";
  return fmt::format("HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n{}",
                     status, reason, body.size(), close ? "Connection: close\r\n" : "", body);
}

asio::awaitable<void> ProxyHttp(net::Connection& client, const Site& site) {
  std::optional<Upstream> upstream;
  std::shared_ptr<Pool> upstream_pool;  // The pool `upstream` belongs to.
  ServerBuffer server_buffer;
  Deadline deadline(client, co_await asio::this_coro::executor);
  for (bool first_request = true;; first_request = false) {
    RequestParser parser;
    parser.header_limit(site.limits.max_header_bytes);
    parser.body_limit(boost::none);
    const HeadStatus head =
        co_await ReadRequestHead(client, parser, deadline, site.limits, first_request);
    if (head == HeadStatus::kClosed) {
      co_return;
    }
    const auto head_done = std::chrono::steady_clock::now();
    if (head != HeadStatus::kOk) {
      const bool too_large = head == HeadStatus::kTooLarge;
      site.metrics.Count(too_large ? 431 : 400, head_done);
      // A named string, not a ?: of temporaries in co_await's operand: g++ 12 destroys
      // such a temporary twice.
      const std::string refusal = too_large
                                      ? HttpAnswer(431, "Request Header Fields Too Large", true)
                                      : HttpAnswer(400, "Bad Request", true);
      co_await client.Write(refusal);
      co_return;
    }
    const auto& request = parser.get();
    if (static_cast<size_t>(std::distance(request.begin(), request.end())) >
        site.limits.max_headers) {
      site.metrics.Count(431, head_done);
      co_await client.Write(HttpAnswer(431, "Request Header Fields Too Large", true));
      co_return;
    }
    // An answer of the gateway's own keeps the connection only if no body follows.
    const bool keep_client = request.keep_alive();
    auto answer = [&](unsigned status, std::string_view reason) -> asio::awaitable<bool> {
      const bool keep = keep_client && parser.is_done();
      site.metrics.Count(status, head_done);
      co_return co_await client.Write(HttpAnswer(status, reason, !keep)) && keep;
    };
    const std::shared_ptr<Pool> pool = site.PoolFor(request[bhttp::field::host], request.target());
    if (pool == nullptr) {
      if (co_await answer(404, "Not Found")) {
        continue;
      }
      co_return;
    }
    bool reused = upstream.has_value() && upstream_pool == pool;
    if (!reused) {
      upstream.reset();
      server_buffer.clear();
      upstream = co_await ConnectUpstream(*pool, client.peer().address(), site.connect_timeout, "");
      upstream_pool = pool;
    }
    if (!upstream) {
      if (co_await answer(503, "Service Unavailable")) {
        continue;
      }
      co_return;
    }
    if (beast::iequals(request[bhttp::field::expect], "100-continue") && !parser.is_done()) {
      // The gateway takes the expectation (as nginx does): the body comes to it.
      if (!co_await client.Write("HTTP/1.1 100 Continue\r\n\r\n")) {
        co_return;
      }
    }
    const std::string server_head = ServerHead(request, client.peer().address(), site.scheme);
    const bool has_body = !parser.is_done();
    Relayed relayed = Relayed::kBad;
    unsigned status = 0;   // The response's, once relayed.
    bool retried = false;  // Sent to another server after one failed it.
    for (;;) {
      bool sent = co_await WriteServer(upstream->socket, server_head);
      if (sent && has_body) {
        sent = co_await RelayRequestBody(client, parser, upstream->socket);
      }
      if (sent) {
        relayed = co_await RelayResponse(upstream->socket, server_buffer, client, request,
                                         site.limits.server_timeout, &status);
      }
      if ((!sent || relayed == Relayed::kNoAnswer) && reused && !has_body) {
        // The kept-alive connection was closed by the server meanwhile: a new one.
        reused = false;
        server_buffer.clear();
        upstream =
            co_await ConnectUpstream(*pool, client.peer().address(), site.connect_timeout, "");
        if (!upstream) {
          relayed = Relayed::kBad;
          break;
        }
        continue;
      }
      if (!sent) {
        relayed = has_body ? Relayed::kBroken : Relayed::kBad;
      }
      // A server that failed, before answering any of it, a request that may safely go
      // again: taken out, and the request goes once to another server (nginx's
      // proxy_next_upstream on error and timeout).
      const bool unanswered =
          relayed == Relayed::kBad || relayed == Relayed::kNoAnswer || relayed == Relayed::kTimeout;
      if (unanswered && !has_body && !retried && IsIdempotent(request.method())) {
        retried = true;
        reused = false;
        pool->ReportFailure(upstream->lease);
        const std::string failed = upstream->lease.address();
        upstream.reset();
        server_buffer.clear();
        upstream =
            co_await ConnectUpstream(*pool, client.peer().address(), site.connect_timeout, failed);
        if (!upstream) {
          break;  // No other server: the client hears what the first one did.
        }
        continue;
      }
      break;
    }
    if (relayed == Relayed::kTimeout || relayed == Relayed::kBad || relayed == Relayed::kNoAnswer) {
      if (upstream && relayed != Relayed::kNoAnswer) {
        pool->ReportFailure(upstream->lease);
      }
      upstream.reset();
      const bool timeout = relayed == Relayed::kTimeout;
      site.metrics.Count(timeout ? 504 : 502, head_done);
      const std::string failure =
          timeout ? HttpAnswer(504, "Gateway Timeout", true) : HttpAnswer(502, "Bad Gateway", true);
      co_await client.Write(failure);
      co_return;
    }
    if (relayed != Relayed::kBroken) {
      site.metrics.Count(status, head_done);
    }
    // A response the server ended by closing, or said it would: the client, told
    // "Connection: close" in the response's head, closes as well.
    if (relayed != Relayed::kKeepAlive || !keep_client) {
      co_return;
    }
  }
}

}  // namespace trellis::gateway
