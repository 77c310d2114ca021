// RouteFollower: how an access node follows the master (`trellis access --master URL`):
// on a thread of its own it long-polls the master's cluster map and gives the access
// node a new route table (the map's groups, their mains and healthy backups, and its slots)
// and its tenants whenever the map changes. While the master is away, or answers something
// malformed, the node keeps routing by the last good table.
//
// Thread safety: Start and Drain from the daemon's main thread; the follower's work runs
// on its own thread and hands tables to the node without waiting for its shards, so
// stopping the follower or the node never waits on the other.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "access/access_node.h"
#include "access/route_table.h"
#include "base/result.h"
#include "daemon/service.h"
#include "master/client/cluster_state.h"
#include "master/client/master_client.h"
#include "net/shard_pool.h"

namespace trellis::access {

// The route table of a cluster map; a map without groups routes to one group with no
// main (every request gets SERVER_ERROR until a group has one).
RouteTable RouteTableOf(const master::ClusterState& map);

// The master's current map, asking for up to `patience` while the master is not up yet
// (an access node needs a table and its tenants before its first client).
base::Result<master::ClusterState> FetchClusterMap(const master::MasterAccess& master,
                                                   std::chrono::milliseconds patience);

class RouteFollower : public daemon::Service {
 public:
  // REQUIRES: `node` outlives the follower (the daemon drains the follower first).
  static base::Result<std::unique_ptr<RouteFollower>> Start(const master::MasterAccess& master,
                                                            AccessNode& node);
  ~RouteFollower() override;

  void Drain(std::chrono::milliseconds timeout) override;

 private:
  RouteFollower() = default;

  net::ShardPool pool_{1};
};

}  // namespace trellis::access
