// How cache and access nodes follow the master (`--master URL`): a thread of their own
// that registers (cache nodes), then applies every new cluster map: a cache node takes
// the role the map gives it (main, or backup of the group's main) and the group's write
// mode; an access node routes by the map's groups and mains. Between maps, and while the
// master is away, each keeps what it last had.
//
// Thread safety: each follower runs on its own thread until stopped; the nodes' role
// and route changes are thread-safe.
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include <nlohmann/json_fwd.hpp>

#include "access/access_node.h"
#include "access/route_table.h"
#include "cache/cache_node.h"
#include "master/client/master_client.h"

namespace trellis::cli {

// A running follower; destroying it stops it (within about a second).
class MasterFollower {
 public:
  MasterFollower() = default;
  ~MasterFollower();
  void Run(std::function<void(const std::atomic<bool>& stop)> body);

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Registers `node` in `group` as `address` and follows its role.
void FollowAsCacheNode(const master::MasterClient& client, const std::string& group,
                       const std::string& address, cache::CacheNode& node,
                       const std::atomic<bool>& stop);

// The route table of a cluster map (groups in the master's order, their mains and
// healthy backups); a map without groups routes to one group with no main.
access::RouteTable RouteTableOf(const nlohmann::json& map);

void FollowAsAccessNode(const master::MasterClient& client, access::AccessNode& node,
                        const std::atomic<bool>& stop);

}  // namespace trellis::cli
