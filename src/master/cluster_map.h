// ClusterMap: the master's model of a CMEM cluster: groups (each with an epoch, a write
// mode and a main), the cache nodes in them and their roles, which group serves each of
// the 16384 slots, the cache's tenants, and a version that goes up with every change so
// followers can ask for "anything after version N".
//
// Slot ownership is explicit and changes only when slots are moved: the groups added
// before any node has joined share the slots evenly (nothing is stored anywhere yet, so
// nothing moves); a group added after that serves no slot until slots move to it, so
// adding a group never re-homes a key.
//
// Pure data and rules, no I/O: the master daemon persists it (map_store.h), probes the
// nodes and calls these operations.
//
// Thread safety: none; the master touches it from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "master/client/cluster_state.h"

namespace trellis::master {

struct NodeInfo {
  std::string address;  // HOST:PORT of its memcached port; the node's identity.
  std::string group;
  Role role = Role::kBackup;
  // From probes, not persisted:
  bool healthy = true;
  int failed_probes = 0;
  uint64_t sequence = 0;  // The main's log sequence, or what a backup has applied.
  uint64_t pid = 0;       // As the node last reported it (0: not yet).
  int64_t lag_ms = -1;    // A backup's: how old its main's last heartbeat is (-1: unknown).
  uint64_t items = 0;     // What it holds (`stats`: curr_items, bytes).
  uint64_t bytes = 0;
  // The map version it holds, as its last long-poll said: a move's next step waits for
  // the nodes of its groups to hold the step before (docs/scale-out.md).
  uint64_t map_version = 0;
  // When the master last granted it a lease as a main (it asked for the map); a node
  // may take writes for up to the lease length after that (cache/write_gate.h).
  std::chrono::steady_clock::time_point lease_granted{};
};

// One slot as the map keeps it; ClusterState shows runs of them as SlotRanges.
struct SlotState {
  static constexpr uint16_t kNoGroup = UINT16_MAX;
  uint16_t group = 0;          // Index in ClusterMap::groups(): serves it, or moves it away.
  uint16_t target = kNoGroup;  // Index of the group it moves to, or kNoGroup.
  MovePhase phase = MovePhase::kPrepare;  // With a target: the step of the move.
  uint64_t since = 0;                     // SlotRange::since.

  bool operator==(const SlotState& other) const = default;
};

struct GroupInfo {
  std::string name;
  uint64_t epoch = 1;  // Goes up at every change of main.
  bool sync = false;   // Write mode: sync (a backup acknowledges first) or async.
  // During a switchover: the main refuses writes until a backup has caught up (not
  // persisted; a restarted master finishes no switchover).
  bool frozen = false;
};

class ClusterMap {
 public:
  uint64_t version() const { return version_; }
  const std::vector<GroupInfo>& groups() const { return groups_; }
  const std::vector<NodeInfo>& nodes() const { return nodes_; }
  // Every slot's state: ClusterState::kSlots entries, or none while there are no groups.
  const std::vector<SlotState>& slots() const { return slots_; }
  // The same as runs of slots in one state, in slot order.
  std::vector<SlotRange> SlotRanges() const;

  // Starts moving `slots` to group `target`: they enter the prepare step.
  // Errors: kNotFound (no such group), kInvalidArgument (a slot out of range),
  // kConflict (a slot is moving already, or is the target's); then nothing changed.
  base::Status BeginMove(const std::vector<uint32_t>& slots, const std::string& target);
  // Takes moving `slots` one step on: prepare to dual, dual to done (the target serves
  // them). REQUIRES: every slot is moving and all are at the same step.
  void AdvanceMove(const std::vector<uint32_t>& slots);

  // Errors: kInvalidArgument for a bad name, kConflict when the group exists.
  base::Status AddGroup(const std::string& name);
  // Removes a group that serves no slot and takes part in no move, with its nodes.
  // Errors: kNotFound, kConflict (saying how many slots it still serves).
  base::Status RemoveGroup(const std::string& name);
  // The keys per second each group's mover may move now (ClusterState::move_rate).
  void SetMoveRate(uint64_t rate);
  uint64_t move_rate() const { return move_rate_; }
  // A node joins `group`: the main if the group has none, else a backup. A node that
  // registers again has restarted: a backup stays one; a main hands over to its best
  // healthy backup (a restarted cache process is empty), unless it has none.
  // Errors: kNotFound (no such group), kConflict (the node is in another group).
  base::Result<Role> RegisterNode(const std::string& group, const std::string& address);
  base::Status RemoveNode(const std::string& address);
  base::Status SetMode(const std::string& group, bool sync);
  void SetFrozen(const std::string& group, bool frozen);
  // Makes the healthy backup with the highest sequence the main, the old main a backup;
  // bumps the epoch. Fails (kConflict) when the group has no healthy backup.
  base::Result<std::string> Promote(const std::string& group);

  // Tenants (cluster_state.h, TenantState), by name.
  const std::vector<TenantState>& tenants() const { return tenants_; }
  const TenantState* FindTenant(const std::string& name) const;
  // The id the next tenant gets: ids are never reused, so a tenant created again under
  // an old name never sees the old one's items.
  uint64_t next_tenant_id() const { return next_tenant_id_; }
  // A new tenant with the next id at generation 0, keeping `password_sha256`, the SHA-256
  // of its password (64 hex digits). Errors: kInvalidArgument for a bad name (IsTenantName),
  // kConflict when a tenant of that name exists; then nothing changed.
  base::Result<TenantState> AddTenant(const TenantRequest& request, std::string password_sha256);
  // Errors: kNotFound.
  base::Status RemoveTenant(const std::string& name);
  // Moves the tenant to its next generation (its flush_all: its items are never read
  // again) and answers it. Errors: kNotFound.
  base::Result<uint64_t> FlushTenant(const std::string& name);

  const NodeInfo* MainOf(const std::string& group) const;
  NodeInfo* FindNode(const std::string& address);
  const GroupInfo* FindGroup(const std::string& name) const;
  // Marks a change that followers must see (health, sequences do not count).
  void Touch() { ++version_; }

  // What followers see; `lease`: the lease length the map tells its mains.
  ClusterState ToState(std::chrono::milliseconds lease) const;
  // For the store: the persistent part. A map saved before slots were explicit has no
  // `slots`; it gets the split its groups implied then (even, in their order). The next
  // tenant id is raised above every tenant's, if it is not (a store saved before tenants
  // has none).
  // Errors: kInvalidArgument when the ranges do not cover every slot once, in order,
  // with groups of the map.
  static base::Result<ClusterMap> Restore(uint64_t version, std::vector<GroupInfo> groups,
                                          std::vector<NodeInfo> nodes,
                                          const std::vector<SlotRange>& slots,
                                          std::vector<TenantState> tenants,
                                          uint64_t next_tenant_id);

 private:
  // Splits the slots evenly over the groups, in their order.
  void SplitSlotsEvenly();
  // The index of group `name`, or SlotState::kNoGroup.
  uint16_t GroupIndex(const std::string& name) const;

  uint64_t version_ = 0;
  uint64_t move_rate_ = 0;  // Not persisted: the master sets it as moves run.
  std::vector<GroupInfo> groups_;
  std::vector<NodeInfo> nodes_;
  std::vector<SlotState> slots_;
  std::vector<TenantState> tenants_;  // By name.
  // Invariant: above the id of every tenant this map ever had.
  uint64_t next_tenant_id_ = 1;
};

}  // namespace trellis::master
