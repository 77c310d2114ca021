// The http listener's handler (docs/gateway.md, "HTTP"): HTTP/1.1 requests of one client
// connection, each routed by its Host header and path (RouteTable) to a pool, relayed to
// a server of it, and the response relayed back; keep-alive and pipelining on both sides
// (requests are answered in order, one at a time; the server connection is kept for the
// client's next request to the same pool while both ends keep it open).
//
// Messages are parsed with Beast's parser (boost/beast/http) and relayed as they arrive:
// the request head is rewritten (hop-by-hop fields dropped; X-Forwarded-For,
// X-Forwarded-Proto and Via added), bodies pass byte for byte in their own framing
// (Content-Length or chunked), so nothing is buffered whole. `Expect: 100-continue` waits
// for the server's answer before the body is relayed.
//
// Deadlines (LimitsConfig): a connection's first byte within the first-byte timeout, a
// request head whole within the head timeout (slowloris), the server's response head
// within the server timeout; between requests the listener's idle timeout.
//
// Answers of its own: 400 for a malformed request, 431 for a head over the limits, 404
// when no route matches, 503 when the pool has no reachable server, 502 when the server
// breaks the exchange or answers nonsense, 504 when it does not answer the head within
// the server timeout. After an answer of its own to a request it could not relay, and
// after a response delimited by the server closing, the client connection is closed.
// A request that found its kept-alive server connection closed before any byte of an
// answer (the server's keep-alive timeout) goes again on a new connection.
//
// Thread safety: one connection's coroutine, on its shard; the routes, pools and limits
// it is given are shared read-only (pools are internally synchronised).
#pragma once

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "base/metrics.h"
#include "gateway/gateway_config.h"
#include "gateway/pool.h"
#include "gateway/route_table.h"
#include "net/connection.h"

namespace trellis::gateway {

// What an http listener counts: responses by status class (its own answers included)
// and the time from a request's head to the end of its response.
struct HttpMetrics {
  std::array<base::Counter*, 5> responses{};  // 1xx .. 5xx.
  base::Histogram* seconds = nullptr;

  void Count(unsigned status, std::chrono::steady_clock::time_point head_done) const;
};

// What an http listener serves with: its routes, the pools they name, its limits.
struct HttpSite {
  RouteTable routes;
  std::map<std::string, std::shared_ptr<Pool>, std::less<>> pools;
  LimitsConfig limits;
  std::chrono::milliseconds connect_timeout{2000};
  HttpMetrics metrics;
};

boost::asio::awaitable<void> ProxyHttp(net::Connection& client, const HttpSite& site);

// An answer of the gateway's own ("HTTP/1.1 404 Not Found", a one-line text body), with
// `Connection: close` if `close`.
std::string HttpAnswer(unsigned status, std::string_view reason, bool close);

}  // namespace trellis::gateway
