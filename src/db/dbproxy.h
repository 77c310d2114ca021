// DbProxy: `trellis dbproxy` (docs/db.md, "dbproxy"), the MySQL-protocol proxy of CDB:
// clients log in to it as the configured users, and their statements run on a few
// connections to the database server that it lends per statement, or per transaction,
// or for the session when the session lives on the connection (client_session.h).
//
// One net::Server on a pool of worker threads (SO_REUSEPORT: a client lives on the
// thread that accepted it), and one BackendPool per thread, each allowed its share of
// max_backend_connections; so the server sees at most that many connections from the
// proxy, whatever the number of clients.
//
// With a `manager` in its file instead of a `primary`, it asks that `trellis db` which
// server takes writes every 250 ms (GET /v1/db/topology) and lends connections to that
// one: after a failover, statements go to the new primary; while there is none, they get
// an error at once. When the manager does not answer, it lends on to the last primary.
// With replica_reads, it also lends connections to the replicas the manager lists, for
// plain reads (replica_set.h, client_session.h).
//
// Metrics: trellis_dbproxy_backend_connections (open to the server),
// trellis_dbproxy_pinned_total{reason}, trellis_dbproxy_commands_total,
// trellis_dbproxy_lend_waits_total (clients that waited for a connection),
// trellis_dbproxy_refused_logins_total, trellis_dbproxy_replica_reads_total,
// trellis_dbproxy_replica_waits_total{outcome} (reads that waited for a replica to apply
// the client's writes: "applied", or "primary" when it did not in time); the server's own
// connection and byte counters.
//
// Thread safety: Start and Drain from the daemon's main thread; clients run on the
// workers.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "base/metrics.h"
#include "base/result.h"
#include "daemon/service.h"
#include "db/backend_pool.h"
#include "db/client_session.h"
#include "db/dbproxy_config.h"
#include "db/replica_set.h"
#include "http/client.h"
#include "net/server.h"
#include "net/shard_pool.h"

namespace trellis::db {

struct DbProxyOptions {
  DbProxyConfig config;
  boost::asio::ip::tcp::endpoint listen;
  size_t threads = 1;
  size_t max_client_connections = 20000;
  std::chrono::milliseconds connect_timeout{2000};  // To the database server.
  std::chrono::milliseconds lend_timeout{10000};    // A client's wait for a connection.
};

class DbProxy : public daemon::Service {
 public:
  // Errors: the primary's address does not resolve, the listen address cannot be bound.
  static base::Result<std::unique_ptr<DbProxy>> Start(const DbProxyOptions& options,
                                                      base::Registry& metrics);
  ~DbProxy() override;

  std::vector<daemon::Listener> listeners() const override;
  void Drain(std::chrono::milliseconds timeout) override;

 private:
  explicit DbProxy(const DbProxyOptions& options);
  // Follows the manager's topology, on the first worker, until the workers stop.
  boost::asio::awaitable<void> FollowManager(http::Client manager);

  net::ShardPool workers_;
  std::vector<std::unique_ptr<BackendPool>> pools_;        // One per worker.
  std::vector<std::unique_ptr<ReplicaSet>> replica_sets_;  // One per worker, or none.
  std::vector<ShardContext> shards_;                       // One per worker.
  std::unique_ptr<net::Server> server_;
  bool drained_ = false;
};

}  // namespace trellis::db
