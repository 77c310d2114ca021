// ItemArena: the memory items live in, and the one place that counts it against
// --memory. A single reservation of address space is handed out as 256 KiB pages, each
// carved by its size class into equal slots; an item larger than half a page gets a
// mapping of its own. Pages and large mappings share one budget of --memory bytes, so
// item memory never exceeds it, and a released page goes back to the kernel at once:
// RSS follows the pages in use whatever mix of sizes comes and goes (malloc's heaps
// fragmented to 1.6x the limit under the same churn; see docs/cache.md).
//
// An ItemRef is 32 bits: a large item's is its index in the large-item table with the
// top bit set; a slot's is (page + 1) << 13 | slot number, so the reservation holds at
// most 2^18 - 2 pages (--memory up to 65535 MB) and a page at most 8192 slots.
//
// Thread safety: Resolve, RefOf and ChargeOf are lock-free reads, valid for references
// the caller reached under a lock that ordered it after the page or mapping was handed
// out (the Store's stripe or class locks). The rest is internally synchronised.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "cache/item.h"
#include "cache/size_classes.h"

namespace trellis::cache {

class ItemArena {
 public:
  static constexpr size_t kPageSize = SizeClasses::kPageSize;
  static constexpr size_t kMaxPages = (size_t{1} << 18) - 2;
  static constexpr uint32_t kNoPage = UINT32_MAX;

  // REQUIRES: memory_limit <= kMaxPages * kPageSize. A limit under one page is raised
  // to one page, so that something can always be stored.
  explicit ItemArena(size_t memory_limit);
  ~ItemArena();
  ItemArena(const ItemArena&) = delete;
  ItemArena& operator=(const ItemArena&) = delete;

  // A page for slots of `slot_size` bytes, or kNoPage when the budget is spent.
  uint32_t AcquirePage(uint32_t slot_size);
  // Gives a page's memory back to the kernel and its bytes back to the budget.
  // REQUIRES: no slot of the page holds an item.
  void ReleasePage(uint32_t page);
  uint32_t SlotsPerPage(uint32_t page) const {
    return static_cast<uint32_t>(kPageSize / slot_size_[page]);
  }
  static ItemRef SlotRef(uint32_t page, uint32_t slot) {
    return static_cast<ItemRef>((page + 1) << kSlotBits | slot);
  }
  static uint32_t PageOf(ItemRef ref) { return (ref >> kSlotBits) - 1; }

  // A zeroed mapping for one item of `bytes` bytes, or nullptr when the budget is spent.
  Item* AllocateLarge(size_t bytes);
  void FreeLarge(ItemRef ref);
  static bool IsLarge(ItemRef ref) { return (ref & kLargeBit) != 0; }

  Item* Resolve(ItemRef ref) const {
    if (IsLarge(ref)) {
      return large_[ref & ~kLargeBit].item;
    }
    const uint32_t page = PageOf(ref);
    return reinterpret_cast<Item*>(base_ + page * kPageSize +
                                   size_t{ref & kSlotMask} * slot_size_[page]);
  }
  ItemRef RefOf(const Item* item) const;
  // Bytes of budget the item's slot or mapping takes.
  size_t ChargeOf(ItemRef ref) const {
    return IsLarge(ref) ? large_[ref & ~kLargeBit].bytes : slot_size_[PageOf(ref)];
  }

  // Bytes of the budget in use: pages handed out plus large mappings.
  size_t budget_used() const { return budget_used_.load(std::memory_order_relaxed); }
  size_t budget() const { return budget_; }

 private:
  static constexpr uint32_t kSlotBits = 13;
  static constexpr uint32_t kSlotMask = (1u << kSlotBits) - 1;
  static constexpr uint32_t kLargeBit = 1u << 31;
  // Bytes before a large item in its mapping: its index in large_.
  static constexpr size_t kLargeHeader = 8;

  struct LargeItem {
    Item* item = nullptr;
    size_t bytes = 0;  // Length of the mapping.
  };

  const size_t budget_;
  const size_t page_count_;
  char* base_ = nullptr;
  std::unique_ptr<uint32_t[]> slot_size_;  // Per page; written when the page is acquired.
  std::unique_ptr<LargeItem[]> large_;     // Fixed capacity: budget / kMaxSlotSize.

  std::mutex mu_;  // Guards the free lists and the budget.
  std::vector<uint32_t> free_pages_;
  uint32_t next_untouched_page_ = 0;
  std::vector<uint32_t> free_large_;
  std::atomic<size_t> budget_used_{0};
};

}  // namespace trellis::cache
