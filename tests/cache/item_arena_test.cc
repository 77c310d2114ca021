#include "cache/item_arena.h"

#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "cache/size_classes.h"

namespace trellis::cache {
namespace {

TEST(SizeClassesTest, EveryItemGetsTheSmallestSlotThatHoldsIt) {
  const SizeClasses& table = SizeClasses::Get();
  ASSERT_GT(table.count(), 10u);
  EXPECT_EQ(table.SlotSize(0), 48u) << "a 40-byte header and a one-byte key, rounded to 8";
  for (size_t i = 1; i < table.count(); ++i) {
    EXPECT_GT(table.SlotSize(i), table.SlotSize(i - 1));
    EXPECT_EQ(table.SlotSize(i) % 8, 0u) << "slots must keep items 8-byte aligned";
  }
  for (size_t size : {1, 40, 41, 117, 120, 121, 256, 257, 1000, 70000, 131072}) {
    const size_t index = table.ClassFor(size);
    ASSERT_NE(index, SizeClasses::kNone) << size;
    EXPECT_GE(table.SlotSize(index), size);
    if (index > 0) {
      EXPECT_LT(table.SlotSize(index - 1), size);
    }
    // Waste: under 8 bytes up to 256, under an eighth above.
    if (size >= table.SlotSize(0)) {
      EXPECT_LE(table.SlotSize(index) - size, std::max<size_t>(7, size / 8)) << size;
    }
  }
  EXPECT_EQ(table.ClassFor(SizeClasses::kMaxSlotSize + 1), SizeClasses::kNone);
}

TEST(ItemArenaTest, PagesComeFromTheBudgetAndReturnZeroed) {
  ItemArena arena(4 * ItemArena::kPageSize);
  std::set<uint32_t> pages;
  for (int i = 0; i < 4; ++i) {
    const uint32_t page = arena.AcquirePage(120);
    ASSERT_NE(page, ItemArena::kNoPage);
    pages.insert(page);
  }
  EXPECT_EQ(pages.size(), 4u);
  EXPECT_EQ(arena.AcquirePage(120), ItemArena::kNoPage) << "the budget is four pages";
  EXPECT_EQ(arena.budget_used(), 4 * ItemArena::kPageSize);

  const uint32_t page = *pages.begin();
  EXPECT_EQ(arena.SlotsPerPage(page), ItemArena::kPageSize / 120);
  const ItemRef last = ItemArena::SlotRef(page, arena.SlotsPerPage(page) - 1);
  Item* item = arena.Resolve(last);
  EXPECT_EQ(arena.RefOf(item), last);
  EXPECT_EQ(arena.ChargeOf(last), 120u);
  std::memset(static_cast<void*>(item), 0xab, 120);

  arena.ReleasePage(page);
  EXPECT_EQ(arena.budget_used(), 3 * ItemArena::kPageSize);
  const uint32_t again = arena.AcquirePage(64);
  ASSERT_EQ(again, page);
  EXPECT_EQ(arena.SlotsPerPage(again), ItemArena::kPageSize / 64);
  const auto* bytes = reinterpret_cast<const unsigned char*>(arena.Resolve(last));
  EXPECT_EQ(bytes[0], 0) << "a released page must come back as zeros (free slots)";
}

TEST(ItemArenaTest, LargeItemsShareTheBudgetWithPages) {
  ItemArena arena(4 * ItemArena::kPageSize);
  const size_t large = SizeClasses::kMaxSlotSize + 1000;
  Item* first = arena.AllocateLarge(large);
  ASSERT_NE(first, nullptr);
  const ItemRef ref = arena.RefOf(first);
  EXPECT_TRUE(ItemArena::IsLarge(ref));
  EXPECT_EQ(arena.Resolve(ref), first);
  EXPECT_GE(arena.ChargeOf(ref), large);
  std::memset(static_cast<void*>(first), 1, large);  // The whole item is writable.

  size_t pages = 0;
  while (arena.AcquirePage(40) != ItemArena::kNoPage) {
    ++pages;
  }
  EXPECT_LT(pages, 4u) << "the large item's bytes come out of the same budget";
  EXPECT_LE(arena.budget_used(), arena.budget());
  arena.FreeLarge(ref);
  EXPECT_NE(arena.AcquirePage(40), ItemArena::kNoPage);
}

}  // namespace
}  // namespace trellis::cache
