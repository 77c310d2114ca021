// Store: the cache node's item storage. Items live in the ItemArena's pages, carved
// into size classes; a hash table split into stripes, each with its own lock, finds
// them. Each size class has its own lock, free slots and S3-FIFO eviction queues, so
// that evicting frees a slot of the size that is needed. Worker threads lock only the
// stripe of the key they touch (and, to store or delete, its size class), so there is
// no global lock on the hot path.
//
// Eviction is S3-FIFO (Yang et al., SOSP 2023): new items enter a small FIFO that holds
// about 10% of the class; an item accessed while there moves to the main FIFO, one that
// is not is evicted and its key hash remembered in a ghost list, so that it goes straight
// to main if it comes back. Main is a FIFO with reinsertion of accessed items (CLOCK-like).
// It keeps one-hit wonders from flushing the working set, which LRU does not; see
// docs/cache.md for the hit ratios measured.
//
// Pages move between classes as the mix of sizes changes: a class with nothing to evict
// takes a page from another, and a class that has evicted a page's worth of items takes
// one from the class whose oldest item is more than twice as old as its own (memcached's
// slab automove by age, done at allocation time instead of by a background thread).
//
// The command logic (set/add/cas/append/incr, the meta flags) lives in the executor on
// top of Slot's few primitives; the store knows items, memory, expiry and eviction.
//
// Tenants' memory quotas (docs/security.md): the items of a tenant's keys (their prefix,
// proto::memcache::TenantOfKey) count against the tenant's limit on this node, and sit
// in queues of their own in every size class (a partition). A store that would take a
// tenant past its limit first evicts that tenant's oldest items, by S3-FIFO within its
// partition, so a tenant over its quota evicts nobody else's items. When the node as a
// whole is full, a class evicts from the partition whose oldest item is oldest; with no
// quotas there is one partition and eviction is as above.
//
// Cluster slots (base/cluster_slot.h: a key's hash % kClusterSlots, the unit that moves
// between groups) are indexed for free: a slot's keys all live in one stripe (the
// stripe is the hash's low 6 bits, the slot its low 14), and each stripe orders its
// buckets by slot, so one slot's keys sit in one run of buckets and listing them costs
// about as much as the keys it holds. Each stripe also counts its slots' items and bytes.
// (A Store::Slot is a locked key, not a cluster slot.)
//
// Thread safety: internally synchronised. A Slot holds its stripe's lock for its lifetime.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "base/cluster_slot.h"
#include "cache/item.h"
#include "cache/item_arena.h"
#include "cache/mutation.h"

namespace trellis::cache {

struct StoreOptions {
  // Bytes of item memory: pages and large items' mappings, headers included.
  // REQUIRES: at most ItemArena::kMaxPages pages.
  size_t memory_limit = 64 << 20;
  bool evict = true;  // false: refuse stores when full (memcached -M).
};

// What one cluster slot holds.
struct SlotUsage {
  uint64_t items = 0;
  uint64_t bytes = 0;  // The slots and mappings its items take.
};

struct StoreStats {
  uint64_t items = 0;
  uint64_t bytes = 0;        // Slots and mappings that hold items.
  uint64_t total_items = 0;  // Items ever stored.
  uint64_t evictions = 0;
  uint64_t expired = 0;  // Removed because they expired (lazily or by the sweeper).
  uint64_t evicted_unfetched = 0;
  uint64_t expired_unfetched = 0;
};

// A tenant's memory limit on this node.
struct TenantQuota {
  uint64_t tenant = 0;  // master::TenantState::id
  uint64_t limit_bytes = 0;
  bool operator==(const TenantQuota&) const = default;
};

// What a tenant with a quota holds on this node.
struct TenantMemory {
  uint64_t tenant = 0;
  uint64_t limit_bytes = 0;
  uint64_t bytes = 0;      // The slots and mappings its items take.
  uint64_t evictions = 0;  // Of its items, to keep it within its limit or the node's.
};

// One size class, for `stats slabs` and `stats items`.
struct SizeClassStats {
  uint32_t id = 0;         // 1-based position in SizeClasses; the large class is last.
  uint32_t slot_size = 0;  // 0: the class of items larger than half a page.
  uint64_t pages = 0;
  uint64_t bytes = 0;  // Of the budget: its pages, or the large items' mappings.
  uint64_t items = 0;
  uint64_t free_slots = 0;  // Slots of its pages that hold no item.
  uint64_t evictions = 0;
  uint32_t oldest_time = 0;  // Last access of its oldest item (unix s), 0 if none.
};

class Store {
 private:
  struct Stripe;
  struct SizeClass;

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
    // unique CAS, or `cas` when non-zero (meta E flag; later CAS values of this store
    // are higher).
    void Commit(Item* item, uint64_t cas = 0);
    // The same for an item that a slot move brought (reported as kMoveIn).
    void CommitMovedIn(Item* item, uint64_t cas);
    void Discard(Item* item);

    // Removes the key's item, if any, reporting `op` to the mutation listener. A client's
    // delete (kDelete) of a key of a moving slot is reported even when there was no item:
    // the backups of the group a slot moves to keep the tombstone it leaves there, and
    // those of the group it moves from drop a copy the main has moved away but they may
    // still hold (its removal not yet streamed), which a backup taking over would serve.
    void Erase(MutationOp op = MutationOp::kDelete);
    // Whether the key's slot is moving to this node's group (Store::SetMoving): only then
    // does a move bring keys of it here.
    bool incoming() const;
    // Whether a delete left a tombstone for the key while its slot is incoming: a move
    // must not bring the key back (docs/scale-out.md).
    bool tombstoned() const;
    // Sets the current item's expiry time. REQUIRES: Find() returned an item.
    void SetExptime(uint32_t exptime);

    // Whether the last Find() missed because the item had expired.
    bool found_expired() const { return found_expired_; }
    uint32_t now() const { return now_; }
    std::string_view key() const { return key_; }

   private:
    friend class Store;
    Slot(Store& store, Stripe& stripe, std::string_view key, uint64_t hash, uint32_t now);
    ItemRef* FindLink();

    void CommitAs(Item* item, uint64_t cas, MutationOp op);

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
  // up to now + delay - 1 become invalid at that time (memcached's semantics). Reported
  // to the mutation listener unless `report` is false (a backup emptying itself for a
  // snapshot: that is not a change its main made).
  void FlushAll(uint32_t now, int64_t delay, bool report = true);

  // Removes up to `budget` expired items, continuing where the last call stopped.
  // Called periodically by a background thread so that expired items give memory back.
  void SweepExpired(uint32_t now, size_t budget);

  // Calls `fn` for every live item of one stripe (0 <= stripe < kStripeCount), under
  // that stripe's lock: a snapshot a stripe at a time, for a new backup.
  void ForEachItem(size_t stripe, const std::function<void(const Item&)>& fn);
  static constexpr size_t kStripeCount = 64;

  // Calls `fn`, under the slot's stripe lock, for the live items of cluster slot `slot`
  // in the buckets from `cursor` on (0: from the start), stopping after the bucket in
  // which the `limit`th item was seen. Returns the cursor to go on from, or 0 once the
  // whole slot has been walked. An item stored meanwhile may or may not be seen; one
  // that stays is seen at least once, whatever the table does between calls (it may be
  // seen twice if the table grew).
  // REQUIRES: slot < base::kClusterSlots.
  uint64_t ForEachItemOfSlot(uint32_t slot, uint64_t cursor, size_t limit,
                             const std::function<void(const Item&)>& fn);
  SlotUsage UsageOfSlot(uint32_t slot) const;

  // Whether cluster slot `slot` moves, as this node's group sees it: deletes of an
  // incoming slot's keys leave tombstones, and deletes of any moving slot's keys are
  // always logged (Slot::Erase). An incoming slot that stops being one drops its
  // tombstones. REQUIRES: slot < base::kClusterSlots.
  enum class Moving : uint8_t { kNo, kIn, kOut };
  void SetMoving(uint32_t slot, Moving moving);
  Moving moving(uint32_t slot) const { return moving_[slot].load(std::memory_order_acquire); }

  // Replaces the tenants' quotas (any thread). A tenant left out has no limit from then
  // on: its new items go to the shared partition, and its old ones leave as others do.
  // At most kMaxQuotas tenants have one at a time (a partition stays taken until the
  // items of a tenant that lost its quota are gone); the ones beyond are logged and
  // have none.
  static constexpr size_t kMaxQuotas = 254;
  void SetTenantQuotas(const std::vector<TenantQuota>& quotas);
  // The tenants that have a quota, by partition.
  std::vector<TenantMemory> TenantMemoryUsage() const;

  StoreStats Stats() const;
  // Classes that hold or held memory, smallest slots first, the large-item class last.
  std::vector<SizeClassStats> ClassStats() const;
  size_t memory_limit() const { return options_.memory_limit; }

  // Sets the one listener of mutation records (nullptr: none). Costs one relaxed load
  // per change while unset.
  void SetMutationListener(MutationListener* listener) {
    listener_.store(listener, std::memory_order_release);
  }

 private:
  // 64 stripes: each class's queues are global, but the ghost lists are per stripe and
  // work better when they are larger (Zipf 0.99 at 10% memory, 2M requests: hit ratio
  // 0.744 with 64 stripes, 0.732 with 256); with up to a dozen threads two requests
  // still rarely meet on a stripe.
  static constexpr size_t kStripes = kStripeCount;
  static constexpr uint32_t kClusterSlots = base::kClusterSlots;
  static_assert(kClusterSlots % kStripes == 0, "a cluster slot must live in one stripe");
  static constexpr size_t kSlotsPerStripe = kClusterSlots / kStripes;

  struct Partition;
  static constexpr size_t kPartitions = kMaxQuotas + 1;  // [0]: the shared one.

  Stripe& StripeFor(uint64_t hash) { return *stripes_[hash % kStripes]; }
  SizeClass& ClassOf(ItemRef ref);

  // A fresh item slot of `size` bytes in state kAllocated, evicting or moving pages as
  // needed; nullptr if no memory can be found. `held` is the caller's locked stripe,
  // `pinned` an item that must stay (the key's current one).
  Item* AllocateItem(Stripe& held, size_t size, const Item* pinned, uint32_t now);
  // A free slot of `cls`, from a new page if need be (or a new mapping for the large
  // class), within the budget. REQUIRES: cls.mu held.
  Item* TakeSlot(SizeClass& cls, size_t size);
  // A slot of `cls` that is free now, or nullptr. REQUIRES: cls.mu held.
  Item* TakeFreeSlot(SizeClass& cls);
  // Returns an unlinked item's slot or mapping. REQUIRES: cls.mu held.
  void FreeSlot(SizeClass& cls, ItemRef ref, Item* item);
  // Evicts one item of `cls` by S3-FIFO, skipping items whose stripe is busy: from the
  // partition whose oldest item is oldest, or from `partition`.
  // REQUIRES: cls.mu and held.mu held.
  bool EvictOne(SizeClass& cls, Stripe& held, const Item* pinned, uint32_t now);
  bool EvictFromPartition(SizeClass& cls, uint8_t partition, Stripe& held, const Item* pinned,
                          uint32_t now);
  // The partition whose quota `key` counts against; 0 for none.
  uint8_t PartitionOf(std::string_view key) const;
  // Adds `bytes` (negative: takes them) to the memory of `item`'s partition.
  void CountInPartition(const Item& item, int64_t bytes);
  // Evicts the partition's own items until `size` more bytes fit in its limit, or it
  // has none left to evict. REQUIRES: held.mu held, no class lock held.
  void KeepWithinQuota(uint8_t partition, size_t size, Stripe& held, const Item* pinned,
                       uint32_t now);
  // Frees a page (or a large item) of the class whose oldest item is oldest, for `cls`:
  // unconditionally if `cls` is starved, else only if that item is more than twice as
  // old as the oldest of `cls`. REQUIRES: held.mu held, no class lock held.
  bool MoveMemoryTo(SizeClass& cls, Stripe& held, const Item* pinned, uint32_t now, bool starved);
  // Evicts every item of one of the class's pages and releases the page.
  // REQUIRES: cls.mu and held.mu held.
  // EvacuatePage evicts what it can and says whether the page is empty: items whose
  // stripe another request holds stay for the next try.
  bool ReleasePage(SizeClass& cls, Stripe& held, const Item* pinned, uint32_t now);
  bool EvacuatePage(SizeClass& cls, uint32_t page, Stripe& held, const Item* pinned, uint32_t now);

  // Unlinks `item` from its stripe's hash table and reports `op`.
  // REQUIRES: stripe.mu held.
  void Detach(Stripe& stripe, Item* item, ItemRef ref, MutationOp op, uint32_t now);
  // Detach, then unlink from the class queue and free. REQUIRES: stripe.mu held; with
  // `cls_locked`, the item's class lock too.
  void Remove(Stripe& stripe, ItemRef ref, MutationOp op, uint32_t now, bool cls_locked = false);
  void Emit(const MutationRecord& record);
  bool IsFlushed(const Item& item, uint32_t now) const;

  const StoreOptions options_;
  ItemArena arena_;
  std::vector<std::unique_ptr<Stripe>> stripes_;
  std::vector<std::unique_ptr<SizeClass>> classes_;  // SizeClasses order, then large.
  std::atomic<size_t> used_bytes_{0};        // Invariant: sum of the charges of taken slots.
  std::unique_ptr<Partition[]> partitions_;  // kPartitions of them.
  // Partitions from this one on were never taken; read without quotas_mu_.
  std::atomic<size_t> partitions_used_{1};
  std::mutex quotas_mu_;  // SetTenantQuotas, one at a time.
  std::atomic<int64_t> flush_oldest_live_{
      -1};  // Items with time <= this are flushed, once now >= it.
  std::atomic<uint64_t> sequence_{0};
  std::atomic<MutationListener*> listener_{nullptr};
  std::atomic<size_t> sweep_cursor_{0};
  // Per cluster slot; changed under the slot's stripe lock, so a Slot sees it stable.
  std::unique_ptr<std::atomic<Moving>[]> moving_ { new std::atomic<Moving>[ kClusterSlots ]() };
};

}  // namespace trellis::cache
