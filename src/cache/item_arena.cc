#include "cache/item_arena.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include "base/check.h"

namespace trellis::cache {
namespace {

constexpr size_t kOsPage = 4096;

char* MapAnonymous(size_t bytes) {
  void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return memory == MAP_FAILED ? nullptr : static_cast<char*>(memory);
}

}  // namespace

ItemArena::ItemArena(size_t memory_limit)
    : budget_(std::max(memory_limit, kPageSize)),
      page_count_(budget_ / kPageSize),
      slot_size_(new uint32_t[page_count_]()),
      large_(new LargeItem[budget_ / SizeClasses::kMaxSlotSize]()) {
  TRELLIS_CHECK(page_count_ <= kMaxPages);
  base_ = MapAnonymous(page_count_ * kPageSize);
  TRELLIS_CHECK(base_ != nullptr);
  for (size_t i = budget_ / SizeClasses::kMaxSlotSize; i > 0; --i) {
    free_large_.push_back(static_cast<uint32_t>(i - 1));
  }
}

ItemArena::~ItemArena() {
  for (size_t i = 0; i < budget_ / SizeClasses::kMaxSlotSize; ++i) {
    if (large_[i].item != nullptr) {
      munmap(reinterpret_cast<char*>(large_[i].item) - kLargeHeader, large_[i].bytes);
    }
  }
  munmap(base_, page_count_ * kPageSize);
}

uint32_t ItemArena::AcquirePage(uint32_t slot_size) {
  std::lock_guard lock(mu_);
  if (budget_used_.load(std::memory_order_relaxed) + kPageSize > budget_) {
    return kNoPage;
  }
  uint32_t page;
  if (!free_pages_.empty()) {
    page = free_pages_.back();
    free_pages_.pop_back();
  } else {
    TRELLIS_CHECK(next_untouched_page_ < page_count_);
    page = next_untouched_page_++;
  }
  slot_size_[page] = slot_size;
  budget_used_.fetch_add(kPageSize, std::memory_order_relaxed);
  return page;
}

void ItemArena::ReleasePage(uint32_t page) {
  // The kernel drops the page's memory; it reads as zeros (free slots) when reused.
  madvise(base_ + page * kPageSize, kPageSize, MADV_DONTNEED);
  std::lock_guard lock(mu_);
  free_pages_.push_back(page);
  budget_used_.fetch_sub(kPageSize, std::memory_order_relaxed);
}

Item* ItemArena::AllocateLarge(size_t bytes) {
  const size_t length = (kLargeHeader + bytes + kOsPage - 1) & ~(kOsPage - 1);
  uint32_t index;
  {
    std::lock_guard lock(mu_);
    if (budget_used_.load(std::memory_order_relaxed) + length > budget_ || free_large_.empty()) {
      return nullptr;
    }
    index = free_large_.back();
    free_large_.pop_back();
    budget_used_.fetch_add(length, std::memory_order_relaxed);
  }
  char* mapping = MapAnonymous(length);
  if (mapping == nullptr) {
    std::lock_guard lock(mu_);
    free_large_.push_back(index);
    budget_used_.fetch_sub(length, std::memory_order_relaxed);
    return nullptr;
  }
  std::memcpy(mapping, &index, sizeof(index));
  Item* item = reinterpret_cast<Item*>(mapping + kLargeHeader);
  large_[index] = {item, length};
  return item;
}

void ItemArena::FreeLarge(ItemRef ref) {
  const uint32_t index = ref & ~kLargeBit;
  const LargeItem large = large_[index];
  large_[index] = {};
  munmap(reinterpret_cast<char*>(large.item) - kLargeHeader, large.bytes);
  std::lock_guard lock(mu_);
  free_large_.push_back(index);
  budget_used_.fetch_sub(large.bytes, std::memory_order_relaxed);
}

ItemRef ItemArena::RefOf(const Item* item) const {
  const char* address = reinterpret_cast<const char*>(item);
  if (address >= base_ && address < base_ + page_count_ * kPageSize) {
    const size_t offset = static_cast<size_t>(address - base_);
    const auto page = static_cast<uint32_t>(offset / kPageSize);
    return SlotRef(page, static_cast<uint32_t>(offset % kPageSize / slot_size_[page]));
  }
  uint32_t index;
  std::memcpy(&index, address - kLargeHeader, sizeof(index));
  return index | kLargeBit;
}

}  // namespace trellis::cache
