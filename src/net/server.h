// Server: the TCP server runtime every Trellis daemon uses. It listens on every shard of
// a ShardPool (one SO_REUSEPORT listener per shard, so the kernel spreads connections),
// runs one handler coroutine per connection on the accepting shard, caps the number of
// open connections, closes connections idle longer than a timeout, and drains.
//
// A protocol plugs in as a Handler: a coroutine that loops on Connection::ReadMore(),
// parses input(), Consume()s what it parsed and Write()s replies. Anything the handler
// throws is caught at the connection boundary, counted and logged; that connection closes.
// With ServerOptions::tls every connection is TLS: the server runs the handshake before
// the handler, which sees only decrypted bytes.
//
// Thread safety: Start/Drain from one control thread; handlers run on their shard.
// Lifetime: Drain() (or the destructor) must run while the pool's threads still run.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "base/metrics.h"
#include "base/result.h"
#include "net/connection.h"
#include "net/reloadable_tls_context.h"
#include "net/shard_pool.h"

namespace trellis::net {

struct ServerOptions {
  std::string name;  // The `server` label of this server's metrics ("cache", "admin").
  boost::asio::ip::tcp::endpoint listen;
  size_t max_connections = 1024;
  std::chrono::milliseconds idle_timeout{0};  // Zero: never time out.
  // Written, best effort, to a connection refused because max_connections are open.
  std::string overload_reply;
  // TLS on the port: every connection's handshake (with the context of the moment)
  // before the handler runs; one that fails is closed. Null: plaintext.
  std::shared_ptr<ReloadableTlsContext> tls;
};

class Server {
 public:
  using Handler = std::function<boost::asio::awaitable<void>(Connection&)>;

  // Binds and starts accepting on every shard. Fails if the address cannot be bound.
  static base::Result<std::unique_ptr<Server>> Start(ShardPool& pool, ServerOptions options,
                                                     Handler handler, base::Registry& metrics);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound address (the real port when options.listen had port 0).
  const boost::asio::ip::tcp::endpoint& local_endpoint() const { return local_endpoint_; }
  size_t connection_count() const { return open_connections_.load(std::memory_order_relaxed); }

  // Stops accepting and closes connections that sit between requests; the others finish
  // the request they are in. Returns at once. Idempotent.
  void StopAccepting();
  // StopAccepting, then after `timeout` closes whatever is left. Returns when every
  // connection is closed. Idempotent.
  void Drain(std::chrono::milliseconds timeout);

 private:
  struct Shard;
  Server(ShardPool& pool, ServerOptions options, Handler handler, base::Registry& metrics);

  boost::asio::awaitable<void> AcceptLoop(Shard& shard);
  boost::asio::awaitable<void> ServeConnection(Shard& shard, boost::asio::ip::tcp::socket socket);
  boost::asio::awaitable<void> SweepIdle(Shard& shard);
  void TaskStarted();
  void TaskFinished();
  // Posts `fn` to every shard and waits until each has run it.
  void OnEveryShard(const std::function<void(Shard&)>& fn);

  ShardPool& pool_;
  const ServerOptions options_;
  const Handler handler_;
  boost::asio::ip::tcp::endpoint local_endpoint_;
  std::vector<std::unique_ptr<Shard>> shards_;
  bool stopped_accepting_ = false;
  bool drained_ = false;

  std::atomic<size_t> open_connections_{0};  // Across shards; admission checks it.
  std::mutex tasks_mu_;
  std::condition_variable tasks_cv_;
  int live_tasks_ =
      0;  // Accept loops, sweepers and connections still running. Guarded by tasks_mu_.

  base::Gauge& connections_gauge_;
  base::Counter& accepted_;
  base::Counter& rejected_;
  base::Counter& idle_closed_;
  base::Counter& handler_errors_;
  Connection::Counters connection_counters_;
};

}  // namespace trellis::net
