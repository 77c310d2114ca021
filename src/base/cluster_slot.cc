#include "base/cluster_slot.h"

#include <xxhash.h>

namespace trellis::base {

uint32_t ClusterSlotOf(std::string_view key) {
  return static_cast<uint32_t>(XXH3_64bits(key.data(), key.size()) % kClusterSlots);
}

}  // namespace trellis::base
