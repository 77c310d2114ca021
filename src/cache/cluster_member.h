// ClusterMember: a cache node's membership in a cluster run by a master (`trellis cache
// --master URL --group G`). On a thread of its own it registers the node in its group,
// then follows the cluster map: it takes the role the map gives the node (main, or backup
// of the group's main), the group's write mode and freeze, and renews the node's lease
// as a main with every answer. When the map no longer names the node (it was removed, or
// a new master lost it) it registers again. While the master is away, or answers
// something malformed, the node keeps its last role.
//
// Thread safety: Start and Drain from the daemon's main thread; the follower's work runs
// on its own thread and uses only CacheNode's thread-safe role changes, so stopping it
// never waits on the node's threads.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "base/result.h"
#include "cache/cache_node.h"
#include "cache/slot_mover.h"
#include "daemon/service.h"
#include "master/client/cluster_state.h"
#include "master/client/master_client.h"
#include "net/shard_pool.h"

namespace trellis::cache {

struct MembershipOptions {
  master::MasterAccess master;
  std::string group;
  // HOST:PORT the master and the other nodes reach this node at.
  std::string address;
};

class ClusterMember : public daemon::Service {
 public:
  // REQUIRES: `node` outlives the member (the daemon drains the member first).
  // Metrics (in `metrics`): the slot mover's (slot_mover.h).
  static base::Result<std::unique_ptr<ClusterMember>> Start(const MembershipOptions& options,
                                                            CacheNode& node,
                                                            base::Registry& metrics);
  ~ClusterMember() override;

  void Drain(std::chrono::milliseconds timeout) override;

 private:
  ClusterMember(const MembershipOptions& options, CacheNode& node)
      : options_(options), node_(node) {}

  boost::asio::awaitable<void> Run();
  // Registers, retrying until the master accepts.
  boost::asio::awaitable<void> Register();
  // Takes what `map` says of this node; false when the map does not name it.
  bool Apply(const master::ClusterState& map);
  // Gives the node the map's slots and, as a main, the mover its work.
  void ApplySlots(const master::ClusterState& map, bool main);

  const MembershipOptions options_;
  CacheNode& node_;
  net::ShardPool pool_{1};
  std::optional<master::MasterClient> client_;  // Set by Start; on the pool's executor.
  std::unique_ptr<SlotMover> mover_;            // Set by Start; on the pool's executor.
  // What the node was last told (the follower's thread only).
  std::optional<master::Role> role_;
  std::string main_;
  bool frozen_ = false;
};

}  // namespace trellis::cache
