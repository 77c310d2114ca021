#include "cache/size_classes.h"

#include <algorithm>

#include "cache/item.h"

namespace trellis::cache {
namespace {

constexpr uint32_t RoundUp8(size_t n) { return static_cast<uint32_t>((n + 7) & ~size_t{7}); }

}  // namespace

SizeClasses::SizeClasses() {
  uint32_t size = RoundUp8(ItemSize(1, 0));
  for (; size < 256; size += 8) {
    slot_sizes_.push_back(size);
  }
  for (; size < kMaxSlotSize; size = RoundUp8(size + size / 8)) {
    slot_sizes_.push_back(size);
  }
  slot_sizes_.push_back(kMaxSlotSize);
}

const SizeClasses& SizeClasses::Get() {
  static const SizeClasses table;
  return table;
}

size_t SizeClasses::ClassFor(size_t item_size) const {
  if (item_size > kMaxSlotSize) {
    return kNone;
  }
  return static_cast<size_t>(std::lower_bound(slot_sizes_.begin(), slot_sizes_.end(), item_size) -
                             slot_sizes_.begin());
}

}  // namespace trellis::cache
