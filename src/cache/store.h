// Store: the cache node's item storage. A hash table split into stripes, each with its
// own lock, hash buckets and S3-FIFO eviction queues, under one hard limit on item
// memory. Worker threads lock only the stripe of the key they touch, so there is no
// global lock on the hot path; only the memory total is a shared atomic.
//
// Eviction is S3-FIFO (Yang et al., SOSP 2023): new items enter a small FIFO that holds
// about 10% of the bytes; an item accessed while there moves to the main FIFO, one that
// is not is evicted and its key hash remembered in a ghost list, so that it goes straight
// to main if it comes back. Main is a FIFO with reinsertion of accessed items (CLOCK-like).
// It keeps one-hit wonders from flushing the working set, which LRU does not; see
// docs/cache.md for the hit ratios measured.
//
// The command logic (set/add/cas/append/incr, the meta flags) lives in the executor on
// top of Slot's few primitives; the store knows items, memory, expiry and eviction.
//
// Thread safety: internally synchronised. A Slot holds its stripe's lock for its lifetime.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "cache/item.h"
#include "cache/mutation.h"

namespace trellis::cache {

struct StoreOptions {
  size_t memory_limit = 64 << 20;  // Bytes of item memory (malloc chunks, headers included).
  bool evict = true;               // false: refuse stores when full (memcached -M).
};

struct StoreStats {
  uint64_t items = 0;
  uint64_t bytes = 0;        // Item memory charged against the limit.
  uint64_t total_items = 0;  // Items ever stored.
  uint64_t evictions = 0;
  uint64_t expired = 0;  // Removed because they expired (lazily or by the sweeper).
  uint64_t evicted_unfetched = 0;
  uint64_t expired_unfetched = 0;
};

class Store {
 private:
  struct Stripe;

 public:
  explicit Store(StoreOptions options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Exclusive access to one key: holds the key's stripe lock until destroyed.
  class Slot {
   public:
    Slot(Slot&&) = delete;
    ~Slot();

    // The key's live item, or nullptr. Expired and flushed items are removed on the way.
    Item* Find();
    // Marks `item` (from Find) as used now: eviction priority, fetched flag, access time.
    void Bump(Item* item);

    // A new, unlinked item for this key with room for `value_length` value bytes and
    // the given metadata; the caller fills mutable_value(), then Commit()s or Discard()s
    // it. nullptr when the memory limit leaves no room (after evicting, if allowed).
    Item* Allocate(uint32_t value_length, uint32_t client_flags, uint32_t exptime);
    // Makes `item` the key's value, replacing and freeing any current one. It gets a new
    // unique CAS, or `cas` when non-zero (meta E flag).
    void Commit(Item* item, uint64_t cas = 0);
    void Discard(Item* item);

    // Removes the key's item, if any, reporting `op` to the mutation listener.
    void Erase(MutationOp op = MutationOp::kDelete);
    // Sets the current item's expiry time. REQUIRES: Find() returned an item.
    void SetExptime(uint32_t exptime);

    // Whether the last Find() missed because the item had expired.
    bool found_expired() const { return found_expired_; }
    uint32_t now() const { return now_; }
    std::string_view key() const { return key_; }

   private:
    friend class Store;
    Slot(Store& store, Stripe& stripe, std::string_view key, uint64_t hash, uint32_t now);
    Item** FindLink();

    Store& store_;
    Stripe& stripe_;
    std::unique_lock<std::mutex> lock_;
    const std::string_view key_;
    const uint64_t hash_;
    const uint32_t now_;
    bool found_expired_ = false;
  };

  // Locks the stripe of `key`. `now` is the caller's cached unix time in seconds.
  Slot Lock(std::string_view key, uint32_t now);

  // flush_all: with delay <= 0 drops every item now; otherwise items stored or fetched
  // up to now + delay - 1 become invalid at that time (memcached's semantics).
  void FlushAll(uint32_t now, int64_t delay);

  // Removes up to `budget` expired items, continuing where the last call stopped.
  // Called periodically by a background thread so that expired items give memory back.
  void SweepExpired(uint32_t now, size_t budget);

  StoreStats Stats() const;
  size_t memory_limit() const { return options_.memory_limit; }

  // Sets the one listener of mutation records (nullptr: none). Costs one relaxed load
  // per change while unset.
  void SetMutationListener(MutationListener* listener) {
    listener_.store(listener, std::memory_order_release);
  }

 private:
  // 64 stripes: each stripe's queues approximate one global policy better when they are
  // larger (Zipf 0.99 at 10% memory, 2M requests: hit ratio 0.744 with 64 stripes, 0.732
  // with 256), and with up to a dozen threads two requests still rarely meet on a stripe.
  static constexpr size_t kStripes = 64;

  Stripe& StripeFor(uint64_t hash) { return *stripes_[hash % kStripes]; }
  // Unlinks `item` from its stripe's table and queue, emits `op`, frees it.
  void Remove(Stripe& stripe, Item* item, MutationOp op, uint32_t now);
  // Evicts one item from `stripe`, never `pinned`. REQUIRES: the stripe's lock held.
  bool EvictOne(Stripe& stripe, const Item* pinned, uint32_t now);
  // Makes room for `bytes` more, evicting from `stripe` first, then other stripes.
  bool Reserve(Stripe& stripe, size_t bytes, const Item* pinned, uint32_t now);
  void Emit(const MutationRecord& record);
  bool IsFlushed(const Item& item, uint32_t now) const;

  const StoreOptions options_;
  std::vector<std::unique_ptr<Stripe>> stripes_;
  std::atomic<size_t> used_bytes_{
      0};  // Invariant: sum of the charges of linked and allocated items.
  std::atomic<int64_t> flush_oldest_live_{
      -1};  // Items with time <= this are flushed, once now >= it.
  std::atomic<uint64_t> sequence_{0};
  std::atomic<MutationListener*> listener_{nullptr};
  std::atomic<size_t> sweep_cursor_{0};
};

}  // namespace trellis::cache
