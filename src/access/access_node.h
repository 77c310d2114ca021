// AccessNode: a running access proxy: its shards (each with its backend connections and
// route table) and the memcached-protocol server in front of them. `trellis access`
// runs one.
//
// Thread safety: Start and Drain from the daemon's main thread; SetRouteTable from any
// thread (it posts the table to the shards and never waits for them).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "access/access_shard.h"
#include "access/proxy_session.h"
#include "access/route_table.h"
#include "base/metrics.h"
#include "base/result.h"
#include "daemon/service.h"
#include "net/server.h"
#include "net/shard_pool.h"

namespace trellis::access {

struct AccessNodeOptions {
  boost::asio::ip::tcp::endpoint listen;
  int threads = 1;
  size_t max_connections = 4096;
  std::chrono::milliseconds idle_timeout{0};
  BackendOptions backend;
  bool read_from_backup = false;  // See ProxyOptions.
  // Clients must log in as a tenant first (ProxyOptions::require_login); their flush_all
  // goes to `master`.
  bool require_login = false;
  std::optional<master::MasterAccess> master;
  // TLS on the clients' port (as the cache node's --tls-cert).
  std::optional<net::TlsServerFiles> tls;
};

class AccessNode : public daemon::Service {
 public:
  static base::Result<std::unique_ptr<AccessNode>> Start(const AccessNodeOptions& options,
                                                         std::shared_ptr<const RouteTable> table,
                                                         base::Registry& metrics);
  ~AccessNode() override;

  const boost::asio::ip::tcp::endpoint& local_endpoint() const { return endpoint_; }

  // Routes by `table` from now on, each shard once it gets to it (requests already sent
  // finish where they went). Tables set one after another apply in that order.
  void SetRouteTable(std::shared_ptr<const RouteTable> table);
  // Lets in `tenants` (a cluster map's) from now on, each shard once it gets to it.
  void SetTenants(const std::vector<master::TenantState>& tenants);
  // The version of the table every shard routes by.
  uint64_t route_table_version() const { return route_table_version_.load(); }

  std::vector<daemon::Listener> listeners() const override;
  // SIGHUP: reads the TLS files again.
  base::Status Reload() override;
  // {"route_table": {"version": N}}
  void ReportStatus(nlohmann::json& status) const override;
  // Stops accepting, finishes in-flight requests (up to `timeout`), stops the threads.
  void Drain(std::chrono::milliseconds timeout) override;

 private:
  AccessNode(const AccessNodeOptions& options, base::Registry& metrics);
  TenantRegistry tenant_registry_;
  ProxyOptions proxy_options_;
  std::shared_ptr<net::ReloadableTlsContext> tls_;  // Null for a plaintext port.
  net::ShardPool pool_;
  std::vector<std::unique_ptr<AccessShard>> shards_;
  std::unique_ptr<net::Server> server_;
  boost::asio::ip::tcp::endpoint endpoint_;
  bool stopped_ = false;
  std::atomic<uint64_t> route_table_version_{0};
};

}  // namespace trellis::access
