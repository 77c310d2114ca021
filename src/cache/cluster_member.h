// ClusterMember: a cache node's membership in a cluster run by a master (`trellis cache
// --master URL --group G`). On a thread of its own it registers the node in its group,
// then follows the cluster map: it takes the role the map gives the node (main, or backup
// of the group's main), the group's write mode and freeze, and renews the node's lease
// as a main with every answer. When the map no longer names the node (it was removed, or
// a new master lost it) it registers again. While the master is away, or answers
// something malformed, the node keeps its last role. It also gives the node's store the
// tenants' memory quotas (TenantQuotasOf).
//
// Thread safety: Start and Drain from the daemon's main thread; the follower's work runs
// on its own thread and uses only CacheNode's thread-safe role changes, so stopping it
// never waits on the node's threads.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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

// The tenants' memory quotas on a node of `group`: each tenant's memory_bytes (its quota
// over all groups) times the group's share of the slots (those it serves or a move
// brings it), since a tenant's keys spread evenly over the slots. Tenants without a
// quota are left out.
std::vector<TenantQuota> TenantQuotasOf(const master::ClusterState& map, const std::string& group);

class ClusterMember : public daemon::Service {
 public:
  // REQUIRES: `node` outlives the member (the daemon drains the member first).
  // Metrics (in `metrics`): the slot mover's (slot_mover.h); per tenant with a memory
  // quota, trellis_cache_tenant_memory_bytes, trellis_cache_tenant_memory_limit_bytes and
  // trellis_cache_tenant_evictions_total{tenant}, as of the master's last answer.
  static base::Result<std::unique_ptr<ClusterMember>> Start(const MembershipOptions& options,
                                                            CacheNode& node,
                                                            base::Registry& metrics);
  ~ClusterMember() override;

  void Drain(std::chrono::milliseconds timeout) override;

 private:
  ClusterMember(const MembershipOptions& options, CacheNode& node, base::Registry& metrics)
      : options_(options), node_(node), metrics_(metrics) {}

  boost::asio::awaitable<void> Run();
  // Registers, retrying until the master accepts.
  boost::asio::awaitable<void> Register();
  // Takes what `map` says of this node; false when the map does not name it.
  bool Apply(const master::ClusterState& map);
  // Gives the node the map's slots and, as a main, the mover its work.
  void ApplySlots(const master::ClusterState& map, bool main);
  // The store's memory per tenant, in the metrics, by the names in `map`.
  void PublishTenantMemory(const master::ClusterState& map);

  const MembershipOptions options_;
  CacheNode& node_;
  base::Registry& metrics_;
  net::ShardPool pool_{1};
  std::optional<master::MasterClient> client_;  // Set by Start; on the pool's executor.
  std::unique_ptr<SlotMover> mover_;            // Set by Start; on the pool's executor.
  // What the node was last told (the follower's thread only).
  std::optional<master::Role> role_;
  std::string main_;
  bool frozen_ = false;
  std::map<uint64_t, uint64_t> published_evictions_;  // By tenant id: counted so far.
};

}  // namespace trellis::cache
