// RouteTable: which group serves a key. Keys hash to one of 16384 slots
// (base/cluster_slot.h); the table maps each slot to a
// group (as the master's map says, or evenly for a static list of groups) and each group
// to its main and backups. The access proxy holds one per shard and
// swaps it whole when the cluster map changes, so a lookup takes no lock.
//
// A table made from the master's map is versioned: requests routed by it tell the cache
// nodes its version (`mapv`), and it knows the slots in the dual step of a move
// (docs/scale-out.md), which it routes to their target group with their source group as
// the place to look for what has not moved yet.
//
// Thread safety: immutable once built; share it through shared_ptr<const RouteTable>.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "base/cluster_slot.h"
#include "base/result.h"

namespace trellis::access {

struct GroupRoute {
  std::string name;
  std::optional<boost::asio::ip::tcp::endpoint> main;  // None while the group has no main.
  std::vector<boost::asio::ip::tcp::endpoint> backups;
};

class RouteTable {
 public:
  static constexpr size_t kSlots = base::kClusterSlots;

  static size_t SlotOf(std::string_view key) { return base::ClusterSlotOf(key); }

  // The groups in order, each owning an equal contiguous range of slots.
  // REQUIRES: 1 <= groups.size() <= kSlots.
  static RouteTable Even(std::vector<GroupRoute> groups, uint64_t version);
  // `slot_groups`: the index in `groups` of each slot's group.
  // REQUIRES: slot_groups.size() == kSlots, each entry < groups.size().
  static RouteTable WithSlots(std::vector<GroupRoute> groups, std::vector<uint16_t> slot_groups,
                              uint64_t version);
  // The table of the master's map at `version`: as WithSlots, and `dual_sources` names,
  // for each slot in the dual step, the group it moves from (kNotMoving for the others;
  // its slot_groups entry is then the group it moves to).
  // REQUIRES: dual_sources.size() == kSlots, each entry < groups.size() or kNotMoving.
  static RouteTable OfMap(std::vector<GroupRoute> groups, std::vector<uint16_t> slot_groups,
                          std::vector<uint16_t> dual_sources, uint64_t version);
  static constexpr uint16_t kNotMoving = UINT16_MAX;

  // Parses "NAME=HOST:PORT[,HOST:PORT...]": the main first, then backups.
  static base::Result<GroupRoute> ParseGroup(std::string_view spec);

  size_t GroupIndexOf(std::string_view key) const { return slot_group_[SlotOf(key)]; }
  // The group a key's slot moves from, in the dual step; kNotMoving otherwise.
  uint16_t DualSourceOf(std::string_view key) const {
    return dual_source_.empty() ? kNotMoving : dual_source_[SlotOf(key)];
  }
  // Made from the master's map: requests say its version to the cache nodes.
  bool versioned() const { return versioned_; }
  const GroupRoute& group(size_t index) const { return groups_[index]; }
  const std::vector<GroupRoute>& groups() const { return groups_; }
  uint64_t version() const { return version_; }

 private:
  std::vector<GroupRoute> groups_;
  std::vector<uint16_t> slot_group_;
  std::vector<uint16_t> dual_source_;  // Empty, or kSlots entries.
  uint64_t version_ = 0;
  bool versioned_ = false;
};

}  // namespace trellis::access
