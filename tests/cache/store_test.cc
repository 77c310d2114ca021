#include "cache/store.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace trellis::cache {
namespace {

constexpr uint32_t kNow = 1'800'000'000;  // Synthetic unix time.

bool Set(Store& store, const std::string& key, const std::string& value, uint32_t now = kNow,
         uint32_t exptime = 0, uint64_t* cas = nullptr) {
  Store::Slot slot = store.Lock(key, now);
  Item* item = slot.Allocate(static_cast<uint32_t>(value.size()), 0, exptime);
  if (item == nullptr) {
    return false;
  }
  std::memcpy(item->mutable_value(), value.data(), value.size());
  slot.Commit(item);
  if (cas != nullptr) {
    *cas = item->cas;
  }
  return true;
}

std::optional<std::string> Get(Store& store, const std::string& key, uint32_t now = kNow) {
  Store::Slot slot = store.Lock(key, now);
  Item* item = slot.Find();
  if (item == nullptr) {
    return std::nullopt;
  }
  slot.Bump(item);
  return std::string(item->value());
}

void Delete(Store& store, const std::string& key) { store.Lock(key, kNow).Erase(); }

TEST(StoreTest, KeepsAccessedItemsAndEvictsOneHitWonders) {
  Store store(StoreOptions{4 << 20, true});
  // Every item in one size class (header, key of 4 to 9 bytes, value: at most 248 bytes),
  // whose S3-FIFO queues decide alone.
  const std::string value(199, 'v');
  std::vector<std::string> hot;
  for (int i = 0; i < 2000; ++i) {
    hot.push_back("hot" + std::to_string(i));
    ASSERT_TRUE(Set(store, hot.back(), value));
  }
  for (int round = 0; round < 2; ++round) {
    for (const std::string& key : hot) {
      ASSERT_TRUE(Get(store, key).has_value());
    }
  }
  // A scan of cold keys, several times the memory, each written once and never read.
  for (int i = 0; i < 100000; ++i) {
    ASSERT_TRUE(Set(store, "cold" + std::to_string(i), value));
  }
  int hot_left = 0;
  for (const std::string& key : hot) {
    hot_left += Get(store, key).has_value();
  }
  int early_cold_left = 0;
  for (int i = 0; i < 2000; ++i) {
    early_cold_left += Get(store, "cold" + std::to_string(i)).has_value();
  }
  EXPECT_GT(hot_left, 1800) << "accessed items were evicted by a one-pass scan";
  EXPECT_LT(early_cold_left, 200) << "unaccessed items outlived the accessed ones";
  EXPECT_LE(store.Stats().bytes, 4u << 20);
  EXPECT_GT(store.Stats().evictions, 0u);
}

TEST(StoreTest, MemoryAccountingStaysExactUnderChurn) {
  constexpr size_t kLimit = 8 << 20;
  Store store(StoreOptions{kLimit, true});
  std::mt19937_64 random(42);
  std::set<std::string> keys;
  for (int op = 0; op < 1'000'000; ++op) {
    const std::string key = "k" + std::to_string(random() % 20000);
    keys.insert(key);
    switch (random() % 4) {
      case 0:
        Delete(store, key);
        break;
      case 1:
        (void)Get(store, key);
        break;
      default:
        ASSERT_TRUE(Set(store, key, std::string(random() % 2000, 'x')));
    }
    if (op % 1000 == 0) {
      ASSERT_LE(store.Stats().bytes, kLimit);
    }
  }
  for (const std::string& key : keys) {
    Delete(store, key);
  }
  const StoreStats stats = store.Stats();
  EXPECT_EQ(stats.items, 0u);
  EXPECT_EQ(stats.bytes, 0u) << "bytes charged for items that no longer exist";
}

TEST(StoreTest, PagesMoveToTheSizeThatIsWritten) {
  constexpr size_t kLimit = 8 << 20;
  Store store(StoreOptions{kLimit, true});
  for (int i = 0; i < 200000; ++i) {
    ASSERT_TRUE(Set(store, "small" + std::to_string(i), std::string(100, 's')));
  }
  // Now only items ten times larger arrive, and more of them than fit.
  for (int i = 0; i < 20000; ++i) {
    ASSERT_TRUE(
        Set(store, "large" + std::to_string(i), std::string(1000, 'l'), kNow + 1 + i / 1000));
  }
  uint64_t large_pages = 0;
  uint64_t all_pages = 0;
  for (const SizeClassStats& cls : store.ClassStats()) {
    all_pages += cls.pages;
    large_pages += cls.slot_size >= 1000 ? cls.pages : 0;
  }
  EXPECT_GT(large_pages * 10, all_pages * 8) << large_pages << " of " << all_pages;
  EXPECT_LE(all_pages * ItemArena::kPageSize, kLimit);
  int recent_large = 0;
  for (int i = 19000; i < 20000; ++i) {
    recent_large += Get(store, "large" + std::to_string(i), kNow + 21).has_value();
  }
  EXPECT_EQ(recent_large, 1000);
}

TEST(StoreTest, LargeItemsAreEvictedAndAccountedLikeOthers) {
  constexpr size_t kLimit = 4 << 20;
  Store store(StoreOptions{kLimit, true});
  const std::string large(300 << 10, 'L');
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(Set(store, "large" + std::to_string(i), large));
    ASSERT_TRUE(Set(store, "small" + std::to_string(i), "v"));
    ASSERT_LE(store.Stats().bytes, kLimit);
  }
  EXPECT_GT(store.Stats().evictions, 0u);
  EXPECT_TRUE(Get(store, "large39") == large) << "the newest large item is intact";
  for (int i = 0; i < 40; ++i) {
    Delete(store, "large" + std::to_string(i));
    Delete(store, "small" + std::to_string(i));
  }
  EXPECT_EQ(store.Stats().bytes, 0u);
  EXPECT_EQ(store.Stats().items, 0u);
}

TEST(StoreTest, RefusesWhenFullWithoutEviction) {
  Store store(StoreOptions{1 << 20, false});
  int stored = 0;
  while (Set(store, "k" + std::to_string(stored), std::string(1000, 'x'))) {
    ++stored;
  }
  EXPECT_GT(stored, 500);
  EXPECT_EQ(store.Stats().evictions, 0u);
  EXPECT_TRUE(Get(store, "k0").has_value());
  EXPECT_LE(store.Stats().bytes, 1u << 20);
}

TEST(StoreTest, ExpiredItemsAreInvisibleAndSweptAway) {
  Store store(StoreOptions{});
  ASSERT_TRUE(Set(store, "short", "v", kNow, kNow + 10));
  ASSERT_TRUE(Set(store, "forever", "v", kNow, 0));
  EXPECT_TRUE(Get(store, "short", kNow + 9).has_value());
  EXPECT_FALSE(Get(store, "short", kNow + 10).has_value());
  ASSERT_TRUE(Set(store, "swept", "v", kNow, kNow + 5));
  store.SweepExpired(kNow + 5, 1 << 20);
  EXPECT_EQ(store.Stats().items, 1u);
  EXPECT_TRUE(Get(store, "forever", kNow + 1000000).has_value());
  EXPECT_EQ(store.Stats().expired, 2u);
}

// The sweep skips stripes where nothing can have expired; a touch that brings an
// expiry forward, or a delayed flush_all that comes due, still gets swept.
TEST(StoreTest, TheSweepFindsEveryItemThatExpiredOrWasFlushed) {
  Store store(StoreOptions{});
  ASSERT_TRUE(Set(store, "touched", "v", kNow, 0));
  store.SweepExpired(kNow, 1 << 20);
  {
    Store::Slot slot = store.Lock("touched", kNow);
    ASSERT_NE(slot.Find(), nullptr);
    slot.SetExptime(kNow + 5);
  }
  store.SweepExpired(kNow + 5, 1 << 20);
  EXPECT_EQ(store.Stats().items, 0u);

  ASSERT_TRUE(Set(store, "flushed", "v", kNow, 0));
  store.FlushAll(kNow, 10);
  store.SweepExpired(kNow + 8, 1 << 20);
  EXPECT_EQ(store.Stats().items, 1u) << "not due yet";
  store.SweepExpired(kNow + 9, 1 << 20);
  EXPECT_EQ(store.Stats().items, 0u);
}

TEST(StoreTest, EveryVersionGetsADistinctCas) {
  Store store(StoreOptions{});
  std::set<uint64_t> seen;
  for (int i = 0; i < 5000; ++i) {
    uint64_t cas = 0;
    ASSERT_TRUE(Set(store, "k" + std::to_string(i % 50), "v", kNow, 0, &cas));
    EXPECT_NE(cas, 0u);
    EXPECT_TRUE(seen.insert(cas).second) << "CAS " << cas << " reused";
  }
}

TEST(StoreTest, FlushAllWithDelayInvalidatesAtTheDeadline) {
  Store store(StoreOptions{});
  ASSERT_TRUE(Set(store, "k", "v", kNow));
  store.FlushAll(kNow, 10);
  EXPECT_TRUE(Get(store, "k", kNow + 8).has_value());
  EXPECT_FALSE(Get(store, "k", kNow + 9).has_value());
  ASSERT_TRUE(Set(store, "later", "v", kNow + 11));
  EXPECT_TRUE(Get(store, "later", kNow + 12).has_value());
  store.FlushAll(kNow + 12, 0);
  EXPECT_FALSE(Get(store, "later", kNow + 12).has_value());
  EXPECT_EQ(store.Stats().bytes, 0u);
}

class Recorder : public MutationListener {
 public:
  void OnMutation(const MutationRecord& record) override {
    std::lock_guard lock(mu_);
    records.push_back({record.sequence, record.op, std::string(record.key)});
  }
  struct Seen {
    uint64_t sequence;
    MutationOp op;
    std::string key;
  };
  std::vector<Seen> records;

 private:
  std::mutex mu_;
};

TEST(StoreTest, MutationListenerSeesEveryChangeInOrder) {
  Store store(StoreOptions{});
  Recorder recorder;
  store.SetMutationListener(&recorder);
  ASSERT_TRUE(Set(store, "a", "1"));
  ASSERT_TRUE(Set(store, "a", "2"));
  {
    Store::Slot slot = store.Lock("a", kNow);
    ASSERT_NE(slot.Find(), nullptr);
    slot.SetExptime(kNow + 5);
  }
  Delete(store, "a");
  ASSERT_TRUE(Set(store, "b", "1", kNow, kNow + 1));
  EXPECT_FALSE(Get(store, "b", kNow + 2).has_value());
  store.FlushAll(kNow + 2, 0);
  const std::vector<MutationOp> expected = {
      MutationOp::kStore, MutationOp::kStore,  MutationOp::kTouch, MutationOp::kDelete,
      MutationOp::kStore, MutationOp::kExpire, MutationOp::kFlush};
  ASSERT_EQ(recorder.records.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(recorder.records[i].op, expected[i]) << i;
    EXPECT_EQ(recorder.records[i].sequence, i + 1);
  }
  store.SetMutationListener(nullptr);
}

// Every key of one cluster slot, walked a few items at a time.
std::multiset<std::string> WalkSlot(
    Store& store, uint32_t slot, size_t limit, const std::function<void()>& between = [] {}) {
  std::multiset<std::string> seen;
  uint64_t cursor = 0;
  do {
    cursor = store.ForEachItemOfSlot(slot, cursor, limit,
                                     [&](const Item& item) { seen.emplace(item.key()); });
    between();
  } while (cursor != 0);
  return seen;
}

// Stores `count` keys named `prefix`N; returns them by cluster slot.
std::map<uint32_t, std::set<std::string>> StoreKeys(Store& store, const std::string& prefix,
                                                    int count) {
  std::map<uint32_t, std::set<std::string>> by_slot;
  for (int i = 0; i < count; ++i) {
    const std::string key = prefix + std::to_string(i);
    EXPECT_TRUE(Set(store, key, "v")) << key;
    by_slot[base::ClusterSlotOf(key)].insert(key);
  }
  return by_slot;
}

// Tenants' keys carry their prefix "<id>.<generation>:" (proto::memcache::TenantOfKey).
std::string TenantKey(uint64_t tenant, int i) {
  return std::to_string(tenant) + ".0:key" + std::to_string(i);
}

TEST(StoreQuotaTest, ATenantOverItsQuotaEvictsOnlyItsOwnOldestItems) {
  Store store(StoreOptions{64 << 20, true});
  store.SetTenantQuotas({{7, 256 << 10}});
  const std::string value(100, 'v');
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE(Set(store, "shared" + std::to_string(i), value));
    ASSERT_TRUE(Set(store, TenantKey(9, i), value));  // A tenant without a quota.
  }
  for (int i = 0; i < 10000; ++i) {  // About 1.5 MB into 256 KiB.
    ASSERT_TRUE(Set(store, TenantKey(7, i), value));
  }
  const std::vector<TenantMemory> usage = store.TenantMemoryUsage();
  ASSERT_EQ(usage.size(), 1u);
  EXPECT_EQ(usage[0].tenant, 7u);
  EXPECT_EQ(usage[0].limit_bytes, 256u << 10);
  EXPECT_LE(usage[0].bytes, 256u << 10);
  EXPECT_GT(usage[0].bytes, 200u << 10);
  EXPECT_GT(usage[0].evictions, 0u);
  EXPECT_EQ(store.Stats().evictions, usage[0].evictions) << "every eviction was tenant 7's";
  for (int i = 0; i < 2000; ++i) {
    EXPECT_TRUE(Get(store, "shared" + std::to_string(i)).has_value()) << i;
    EXPECT_TRUE(Get(store, TenantKey(9, i)).has_value()) << i;
  }
  EXPECT_TRUE(Get(store, TenantKey(7, 9999)).has_value()) << "the newest stays";
  EXPECT_FALSE(Get(store, TenantKey(7, 0)).has_value()) << "the oldest went";
}

TEST(StoreQuotaTest, ATenantThatLosesItsQuotaGrowsAndItsPartitionIsFreedOnceEmpty) {
  Store store(StoreOptions{64 << 20, true});
  store.SetTenantQuotas({{7, 64 << 10}});
  const std::string value(100, 'v');
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE(Set(store, TenantKey(7, i), value));
  }
  EXPECT_GT(store.Stats().evictions, 0u);
  store.SetTenantQuotas({});
  EXPECT_TRUE(store.TenantMemoryUsage().empty());
  const uint64_t evictions = store.Stats().evictions;
  for (int i = 2000; i < 4000; ++i) {
    ASSERT_TRUE(Set(store, TenantKey(7, i), value));
  }
  EXPECT_EQ(store.Stats().evictions, evictions) << "no quota any more";
  // Its items under the old quota are gone: the partition is free for another tenant.
  for (int i = 0; i < 2000; ++i) {
    Delete(store, TenantKey(7, i));
  }
  store.SetTenantQuotas({});
  store.SetTenantQuotas({{8, 64 << 10}});
  ASSERT_EQ(store.TenantMemoryUsage().size(), 1u);
  EXPECT_EQ(store.TenantMemoryUsage()[0].tenant, 8u);
  EXPECT_EQ(store.TenantMemoryUsage()[0].bytes, 0u);
}

TEST(StoreQuotaTest, AFullNodeEvictsFromThePartitionWithTheOldestItems) {
  Store store(StoreOptions{4 << 20, true});
  store.SetTenantQuotas({{7, 64 << 20}});
  const std::string value(100, 'v');
  // The tenant's items are older than the others', and the node fills up: they go first.
  for (int i = 0; i < 5000; ++i) {
    ASSERT_TRUE(Set(store, TenantKey(7, i), value, kNow));
  }
  for (int i = 0; i < 40000; ++i) {
    ASSERT_TRUE(Set(store, "later" + std::to_string(i), value, kNow + 10));
  }
  EXPECT_EQ(store.TenantMemoryUsage()[0].evictions, 5000u);
  EXPECT_EQ(store.TenantMemoryUsage()[0].bytes, 0u);
}

TEST(StoreSlotTest, WalkingASlotFindsExactlyItsKeysAndItsUsageCountsThem) {
  Store store(StoreOptions{64 << 20, true});
  std::map<uint32_t, std::set<std::string>> by_slot = StoreKeys(store, "key", 50000);
  for (uint32_t slot : {0u, 1u, 63u, 64u, 8191u, base::kClusterSlots - 1}) {
    const std::multiset<std::string> seen = WalkSlot(store, slot, 2);
    EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), by_slot[slot]) << slot;
    EXPECT_EQ(seen.size(), by_slot[slot].size()) << "the table did not change: no repeats";
    EXPECT_EQ(store.UsageOfSlot(slot).items, by_slot[slot].size());
  }
  const uint32_t slot = by_slot.begin()->first;
  EXPECT_GT(store.UsageOfSlot(slot).bytes, 0u);
  for (const std::string& key : by_slot[slot]) {
    Delete(store, key);
  }
  EXPECT_EQ(store.UsageOfSlot(slot).items, 0u);
  EXPECT_EQ(store.UsageOfSlot(slot).bytes, 0u);
  EXPECT_TRUE(WalkSlot(store, slot, 10).empty());
}

TEST(StoreSlotTest, AWalkMissesNoKeyWhileTheTableGrowsUnderIt) {
  Store store(StoreOptions{256 << 20, true});
  std::map<uint32_t, std::set<std::string>> by_slot = StoreKeys(store, "old", 200000);
  // Between steps of the walk (about 12, one key each), new keys: together they more
  // than double every stripe's table.
  int added = 0;
  const std::multiset<std::string> seen = WalkSlot(store, 7, 1, [&] {
    for (int i = 0; i < 30000; ++i, ++added) {
      ASSERT_TRUE(Set(store, "new" + std::to_string(added), "v"));
    }
  });
  for (const std::string& key : by_slot[7]) {
    EXPECT_GE(seen.count(key), 1u) << key << " was missed";
  }
  for (const std::string& key : seen) {
    EXPECT_EQ(base::ClusterSlotOf(key), 7u) << key;
  }
  EXPECT_GT(added, 200000);
}

TEST(StoreConcurrencyTest, ThreadsSharingTheStoreSeeTheirOwnWrites) {
  Store store(StoreOptions{32 << 20, true});
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random(t);
      for (int i = 0; i < 50000; ++i) {
        const std::string own = "t" + std::to_string(t) + "-" + std::to_string(i % 500);
        const std::string value = std::to_string(i);
        if (!Set(store, own, value)) {
          ++errors;
        }
        if (Get(store, own) != value) {
          ++errors;
        }
        const std::string shared = "shared" + std::to_string(random() % 100);
        if (random() % 2 == 0) {
          (void)Set(store, shared, value);
        } else {
          (void)Get(store, shared);
          Delete(store, shared);
        }
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(errors.load(), 0);
  EXPECT_LE(store.Stats().bytes, 32u << 20);
}

TEST(StoreConcurrencyTest, ThreadsEvictingAndMovingPagesKeepEveryItemIntact) {
  // A limit far below the data, sizes that change over time: every store evicts, and
  // pages move between classes while other threads read and write.
  constexpr size_t kLimit = 4 << 20;
  Store store(StoreOptions{kLimit, true});
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  std::atomic<int> failed_stores{0};
  std::atomic<int> corrupt{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random(t);
      for (int i = 0; i < 40000; ++i) {
        const size_t max_size = i < 20000 ? 300 : 3000;
        const std::string key = "k" + std::to_string(random() % 5000);
        // A value that starts with its own key, so a misplaced one shows.
        std::string value = key + ":";
        value.resize(value.size() + random() % max_size, static_cast<char>('a' + t));
        if (!Set(store, key, value)) {
          ++failed_stores;
        }
        const std::string other = "k" + std::to_string(random() % 5000);
        const std::optional<std::string> read = Get(store, other);
        if (read && read->substr(0, other.size() + 1) != other + ":") {
          ++corrupt;
        }
        if (random() % 8 == 0) {
          Delete(store, "k" + std::to_string(random() % 5000));
        }
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(failed_stores.load(), 0);
  EXPECT_EQ(corrupt.load(), 0);
  EXPECT_LE(store.Stats().bytes, kLimit);
  for (int i = 0; i < 5000; ++i) {
    const std::string key = "k" + std::to_string(i);
    if (std::optional<std::string> value = Get(store, key)) {
      EXPECT_EQ(value->substr(0, key.size() + 1), key + ":");
    }
  }
}

}  // namespace
}  // namespace trellis::cache
