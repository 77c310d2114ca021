#include "cache/slot_guard.h"

#include <charconv>

#include "base/cluster_slot.h"

namespace trellis::cache {

SlotGuard::SlotGuard(bool active)
    : active_(active), min_version_(new std::atomic<uint64_t>[base::kClusterSlots]) {
  for (uint32_t slot = 0; slot < base::kClusterSlots; ++slot) {
    min_version_[slot].store(kNever, std::memory_order_relaxed);
  }
}

bool SlotGuard::AllowsKey(uint64_t version, std::string_view key) const {
  return version >= min_version_[base::ClusterSlotOf(key)].load(std::memory_order_relaxed);
}

bool SlotGuard::Allows(uint64_t version, const proto::memcache::Request& request) const {
  if (!active_) {
    return true;
  }
  if (request.keys.empty()) {
    return request.key.empty() || AllowsKey(version, request.key);
  }
  for (std::string_view key : request.keys) {
    if (!AllowsKey(version, key)) {
      return false;
    }
  }
  return true;
}

void SlotGuard::Update(const master::ClusterState& map, std::string_view group) {
  for (const master::SlotRange& range : map.slot_ranges) {
    const bool ours = range.group == group || range.target == group;
    uint64_t min_version = kNever;
    if (!range.target) {
      min_version = range.group == group ? range.since : kNever;
    } else if (range.phase == master::MovePhase::kDual && ours) {
      min_version = range.since;
    }
    for (uint32_t slot = range.first; slot <= range.last; ++slot) {
      min_version_[slot].store(min_version, std::memory_order_relaxed);
    }
  }
}

bool ParseMapVersionCommand(std::string_view line, uint64_t* version) {
  constexpr std::string_view kPrefix = "mapv ";
  if (line.ends_with('\n')) {
    line.remove_suffix(1);
  }
  if (line.ends_with('\r')) {
    line.remove_suffix(1);
  }
  if (!line.starts_with(kPrefix)) {
    return false;
  }
  const std::string_view number = line.substr(kPrefix.size());
  const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), *version);
  return error == std::errc() && end == number.data() + number.size() && !number.empty();
}

}  // namespace trellis::cache
