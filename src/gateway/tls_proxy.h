// The tls listener's handlers (docs/gateway.md, "TLS"):
//
// ProxyTlsPassthrough routes a TLS connection without terminating it: it reads the
// client's ClientHello (proto/tls), picks the pool of the route for its server name
// (SNI; a client that sends none matches host "*" only), then relays every byte, the
// hello included, as a tcp listener does: the server holds the certificate.
//
// ProxyTlsTerminated answers the handshake itself with the listener's certificates (the
// one of the SNI's domain; net/tls_context.h), then serves the decrypted connection as
// an http listener does (ProxyHttp), with X-Forwarded-Proto: https.
//
// The client's first byte must come within the first-byte timeout and its hello within
// the head timeout; a terminated handshake must be done within the first of the two. A
// connection that does not speak TLS, or sends a malformed hello, is closed.
//
// Thread safety: one connection's coroutine, on its shard; the site is shared (site.h).
#pragma once

#include <boost/asio/awaitable.hpp>

#include "gateway/site.h"
#include "net/connection.h"

namespace trellis::gateway {

boost::asio::awaitable<void> ProxyTlsPassthrough(net::Connection& client, const Site& site);
boost::asio::awaitable<void> ProxyTlsTerminated(net::Connection& client, const Site& site);

}  // namespace trellis::gateway
