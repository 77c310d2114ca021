// The cluster's key space: every key belongs to one of kClusterSlots slots, the unit the
// map assigns to groups and moves between them (docs/scale-out.md). The access node
// routes by it, the master's map names its owners, and the cache node's store indexes
// its items by it; all of them take a key's slot from here.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

namespace trellis::base {

inline constexpr uint32_t kClusterSlots = 16384;

// XXH3_64(key) % kClusterSlots.
uint32_t ClusterSlotOf(std::string_view key);

}  // namespace trellis::base
