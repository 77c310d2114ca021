// Server: an HTTP/1.1 server for Trellis's JSON APIs (the master's API, every daemon's
// admin endpoint), answering each request with the Router's handlers. It runs on the
// TCP server runtime (net/server.h), so it has that runtime's connection cap, idle
// timeout, drain and trellis_connections* metrics (labelled server=<name>).
//
// Per connection: keep-alive, and pipelined requests answered one at a time in order.
// Bad input gets 400 (malformed), 413 (body over body_limit) or 431 (headers over
// header_limit), then the connection closes; so does one over the connection cap, with
// 503. Every error body is JSON (http/message.h). A handler that throws gets its client
// a 500, and the exception is counted and logged as the runtime does.
//
// Drain(timeout) stops accepting, closes idle keep-alive connections and lets requests in
// flight finish. At the deadline every handler still running is cancelled: it runs bound
// to its connection's abort slot (net/connection.h), so the asynchronous operation it
// waits on (a long-poll's timer, a socket, a co_spawn onto another executor) completes
// with operation_aborted, and any later co_await in it throws, so even a handler that
// ignores the error ends. Only an operation that ignores cancellation (or a co_spawn onto
// an executor that no longer runs) can hold a drain up.
//
// Thread safety: Start/Drain from one control thread; handlers run on the shards of the
// pool, several at once when it has several shards.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "base/metrics.h"
#include "base/result.h"
#include "http/message.h"
#include "http/router.h"
#include "net/server.h"
#include "net/shard_pool.h"

namespace trellis::http {

struct ServerOptions {
  std::string name;  // The `server` label of the connection metrics ("admin", "master").
  boost::asio::ip::tcp::endpoint listen;
  size_t max_connections = 256;
  std::chrono::milliseconds idle_timeout{60000};  // Zero: never time out.
  size_t header_limit = 8 * 1024;
  size_t body_limit = 1024 * 1024;
  // Every connection is TLS (net/server.h), mutual TLS if the context asks clients for
  // certificates; null: plaintext.
  std::shared_ptr<net::ReloadableTlsContext> tls;
};

class Server {
 public:
  // Binds and starts accepting on every shard of `pool` (started before or after).
  static base::Result<std::unique_ptr<Server>> Start(net::ShardPool& pool, ServerOptions options,
                                                     std::shared_ptr<const Router> router,
                                                     base::Registry& metrics);

  // The bound address (the real port when options.listen had port 0).
  const boost::asio::ip::tcp::endpoint& local_endpoint() const { return server_->local_endpoint(); }
  size_t connection_count() const { return server_->connection_count(); }

  // Stops accepting, finishes the requests in flight for up to `timeout`, then cancels
  // the handlers still running and closes every connection. Returns when all are closed.
  // Idempotent; the destructor drains with a zero timeout.
  void Drain(std::chrono::milliseconds timeout) { server_->Drain(timeout); }

 private:
  explicit Server(std::unique_ptr<net::Server> server) : server_(std::move(server)) {}
  std::unique_ptr<net::Server> server_;
};

}  // namespace trellis::http
