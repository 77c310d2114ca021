// SizeClasses: the slot sizes the item arena carves its pages into. Steps of 8 bytes up
// to 256 (where most cache items are, and where memcached's factor 1.25 wastes the most),
// then steps of 1/8 up to half a page. An item takes the smallest class that holds it,
// wasting under 8 bytes or 12.5%; larger items get a mapping of their own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace trellis::cache {

class SizeClasses {
 public:
  // Pages are 256 KiB, not memcached's 1 MiB: every class in use holds at least one
  // page, and with 1 MiB pages the classes of a 64 MB cache with values of 10-1000 bytes
  // left a third of it in half-empty pages (hit ratio 0.025 against memcached's 0.061).
  static constexpr size_t kPageSize = size_t{256} << 10;
  static constexpr size_t kMaxSlotSize = kPageSize / 2;
  static constexpr size_t kNone = SIZE_MAX;

  // The table, built once.
  static const SizeClasses& Get();

  size_t count() const { return slot_sizes_.size(); }
  uint32_t SlotSize(size_t class_index) const { return slot_sizes_[class_index]; }
  // The smallest class whose slots hold `item_size` bytes, or kNone above kMaxSlotSize.
  size_t ClassFor(size_t item_size) const;

 private:
  SizeClasses();
  std::vector<uint32_t> slot_sizes_;
};

}  // namespace trellis::cache
