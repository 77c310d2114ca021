// AccessNode: a running access proxy: its shards (each with its backend connections and
// route table) and the memcached-protocol server in front of them. `trellis access`
// runs one.
//
// Thread safety: Start/SetRouteTable/Stop from the composition root's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "access/access_shard.h"
#include "access/proxy_session.h"
#include "access/route_table.h"
#include "base/metrics.h"
#include "base/result.h"
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
};

class AccessNode {
 public:
  static base::Result<std::unique_ptr<AccessNode>> Start(const AccessNodeOptions& options,
                                                         std::shared_ptr<const RouteTable> table,
                                                         base::Registry& metrics);
  ~AccessNode();

  const boost::asio::ip::tcp::endpoint& local_endpoint() const { return endpoint_; }

  // Routes by `table` from now on (requests already sent finish where they went).
  void SetRouteTable(std::shared_ptr<const RouteTable> table);
  // The version of the table every shard routes by (for /v1/status).
  uint64_t route_table_version() const { return route_table_version_.load(); }

  // Stops accepting, finishes in-flight requests (up to `timeout`), stops the threads.
  void Stop(std::chrono::milliseconds timeout);

 private:
  AccessNode(const AccessNodeOptions& options, base::Registry& metrics);
  // Runs `fn` on every shard's thread and waits for all.
  void OnEveryShard(const std::function<void(AccessShard&)>& fn);

  ProxyOptions proxy_options_;
  net::ShardPool pool_;
  std::vector<std::unique_ptr<AccessShard>> shards_;
  std::unique_ptr<net::Server> server_;
  boost::asio::ip::tcp::endpoint endpoint_;
  bool stopped_ = false;
  std::atomic<uint64_t> route_table_version_{0};
};

}  // namespace trellis::access
