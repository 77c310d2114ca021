// GroupSpawner: starts the cache nodes of one CMEM group as children of `trellis up`'s
// supervisor: two nodes on free ports of the client host, following the master, which
// makes one the main and the other its backup. `trellis up` starts its first groups with
// it, and groups added later when asked on its admin endpoint:
//   POST /v1/groups {"name": "g3"}   adds g3 to the master and starts its two nodes
// (what `trellis cluster add-group g3 --spawn` sends); the group serves no slot until
// `trellis cluster rebalance` moves some to it (docs/scale-out.md).
//
// Thread safety: Spawn and the API from any thread, one group at a time (a mutex); the
// API's handler blocks its thread while the nodes start (at most `patience`).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "admin/admin_server.h"
#include "base/result.h"
#include "daemon/supervisor.h"
#include "master/client/cluster_setup.h"

namespace trellis::up {

struct GroupSpawnerOptions {
  master::MasterAccess master;
  std::string token_file;           // The nodes' --token-file ("": none).
  boost::asio::ip::address host;    // Where the nodes listen (the client host).
  size_t memory_mb = 64;            // Item memory per node.
  std::vector<std::string> common;  // Arguments every child gets (--admin, --log-level, ...).
  std::chrono::milliseconds patience{10000};  // For each node to listen.
};

class GroupSpawner {
 public:
  // REQUIRES: `supervisor` outlives the spawner.
  GroupSpawner(daemon::Supervisor& supervisor, GroupSpawnerOptions options)
      : supervisor_(supervisor), options_(std::move(options)) {}

  // The nodes of `group`, on ports the supervisor now holds: what to tell the master
  // (ApplyGroupPlan) and what to start.
  base::Result<std::pair<master::GroupPlan, std::vector<daemon::ChildSpec>>> Plan(
      const std::string& group);
  // Adds `group` to the master (kConflict if it has it), then starts its nodes and waits
  // until they listen.
  base::Status Spawn(const std::string& group);
  // The admin endpoint's handler of POST /v1/groups; it keeps `spawner` alive.
  static admin::ApiHandler Api(std::shared_ptr<GroupSpawner> spawner);

 private:
  daemon::Supervisor& supervisor_;
  const GroupSpawnerOptions options_;
  std::mutex mu_;  // One group at a time.
};

}  // namespace trellis::up
