// A response head as a proxy passes it on to its client (RFC 9110 section 7.6.1): the
// fields that speak of one connection only are dropped (Connection, every field its
// options name, Keep-Alive, Proxy-Connection; never the framing, Content-Length and
// Transfer-Encoding, which the body is relayed in) and the proxy's own Connection field for
// the client's connection is added where one is needed.
//
// Why: a server's "Connection: keep-alive" or "Keep-Alive: timeout=5" is about its
// connection to the gateway, not the client's; relayed as is, it told an HTTP/1.0 client
// that the gateway would keep a connection it was about to close, and a client that had
// asked to close heard "keep-alive". HAProxy and nginx rewrite the head the same way.
//
// No I/O and no validation: the head is one that Beast's parser accepted (a status line,
// fields, the empty line); anything else is copied line by line as it is.
//
// Thread safety: a pure function.
#pragma once

#include <string>
#include <string_view>

namespace trellis::proto::http {

// The Connection field the proxy adds for the client's connection.
enum class ClientConnection {
  kAsDefault,  // None: HTTP/1.1's default, the connection stays.
  kKeepAlive,  // "Connection: keep-alive": an HTTP/1.0 client's connection stays.
  kClose,      // "Connection: close": the proxy closes it after this response.
};

// Appends `head` to `out` without its hop-by-hop fields, with `connection`'s field before
// the empty line that ends it.
void AppendProxiedHead(std::string_view head, ClientConnection connection, std::string& out);

}  // namespace trellis::proto::http
