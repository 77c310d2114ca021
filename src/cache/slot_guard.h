// SlotGuard: which requests from access nodes a cache node serves while cluster slots
// move between groups (docs/scale-out.md, "On the wire"). An access node says on each
// connection which map version it routes by (`mapv V`); for every key of such a request
// the node looks up the lowest version it serves the key's slot at, as its own copy of
// the map says for its group: the slot's `since` when the group serves the slot (or is
// the source or target of its move in the dual step), never while the slot is in the
// prepare step or belongs to another group. A refused request gets `SERVER_ERROR stale
// map` and the access node sends it again by a newer map.
//
// A node that follows no master has no map and checks nothing; one that follows a master
// refuses every versioned request until it has its first map.
//
// Thread safety: Allows from any thread (one relaxed atomic load per key); Update from
// the thread that follows the master. A request checked against an older rule while an
// Update runs is safe: the master waits for the node to ask for the next map version
// (which happens after Update returns) before it relies on the new rule.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>

#include "master/client/cluster_state.h"
#include "proto/memcache/request.h"

namespace trellis::cache {

inline constexpr std::string_view kStaleMapReply = "SERVER_ERROR stale map\r\n";

class SlotGuard {
 public:
  // `active`: the node follows a master.
  explicit SlotGuard(bool active);

  bool active() const { return active_; }
  // Whether a request routed by map `version` may touch every key of `request`.
  bool Allows(uint64_t version, const proto::memcache::Request& request) const;
  // Takes the rules of `map` for the nodes of `group`.
  void Update(const master::ClusterState& map, std::string_view group);

 private:
  static constexpr uint64_t kNever = UINT64_MAX;
  bool AllowsKey(uint64_t version, std::string_view key) const;

  const bool active_;
  // The lowest map version served, per cluster slot (kNever: none).
  std::unique_ptr<std::atomic<uint64_t>[]> min_version_;
};

// "mapv V", with or without its line end: sets *version.
bool ParseMapVersionCommand(std::string_view line, uint64_t* version);

}  // namespace trellis::cache
