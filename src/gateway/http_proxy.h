// The http listener's handler (docs/gateway.md, "HTTP"): HTTP/1.1 requests of one client
// connection, each routed by its Host header and path (RouteTable) to a pool, relayed to
// a server of it, and the response relayed back; keep-alive and pipelining on both sides
// (requests are answered in order, one at a time; the server connection is kept for the
// client's next request to the same pool while both ends keep it open).
//
// Messages are parsed with Beast's parser (boost/beast/http) and relayed as they arrive:
// the request head is rewritten (hop-by-hop fields dropped; X-Forwarded-For,
// X-Forwarded-Proto and Via added), so is the response head (the server's hop-by-hop
// fields dropped, the gateway's Connection field for the client added:
// proto/http/proxied_head.h), bodies pass byte for byte in their own framing
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
// answer (the server's keep-alive timeout) goes again on a new connection. An
// idempotent request without a body whose server fails it before any byte of an answer
// (closes, resets, answers nonsense, or times out) takes that server out and goes once
// to another server of the pool.
//
// Each request is routed by the site's routing of the moment (a route changed at run
// time applies to the next request); X-Forwarded-Proto is the site's scheme ("https"
// behind TLS termination).
//
// Thread safety: one connection's coroutine, on its shard; the site is shared (site.h).
#pragma once

#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "gateway/site.h"
#include "net/connection.h"

namespace trellis::gateway {

boost::asio::awaitable<void> ProxyHttp(net::Connection& client, const Site& site);

// An answer of the gateway's own ("HTTP/1.1 404 Not Found", a one-line text body), with
// `Connection: close` if `close`.
std::string HttpAnswer(unsigned status, std::string_view reason, bool close);

}  // namespace trellis::gateway
