#include "cache/store.h"

#include <spdlog/spdlog.h>
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <bitset>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <unordered_set>

#include "base/check.h"
#include "base/clock.h"
#include "proto/memcache/key_namespace.h"

namespace trellis::cache {

namespace {

// The same hash as base::ClusterSlotOf, so that hash % kClusterSlots is the key's slot.
uint64_t HashKey(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

// Tries before giving up on an allocation; each frees or moves some memory.
constexpr int kAllocateAttempts = 64;
// Busy items (their stripe locked by another request) an eviction steps over before
// it gives up on its class.
constexpr int kMaxEvictionSkips = 64;

// The access time of an item, read by a thread that does not hold its stripe lock.
uint32_t LoadTime(Item& item) {
  return std::atomic_ref<uint32_t>(item.time).load(std::memory_order_relaxed);
}

// A doubly linked FIFO of one size class through Item::newer/older.
struct Queue {
  ItemRef newest = kNoItem;
  ItemRef oldest = kNoItem;
  size_t count = 0;

  void PushNewest(const ItemArena& arena, ItemRef ref, Item* item) {
    item->older = newest;
    item->newer = kNoItem;
    if (newest != kNoItem) {
      arena.Resolve(newest)->newer = ref;
    } else {
      oldest = ref;
    }
    newest = ref;
    ++count;
  }
  void Unlink(const ItemArena& arena, Item* item) {
    (item->newer != kNoItem ? arena.Resolve(item->newer)->older : newest) = item->older;
    (item->older != kNoItem ? arena.Resolve(item->older)->newer : oldest) = item->newer;
    item->newer = item->older = kNoItem;
    --count;
  }
};

// One partition's S3-FIFO queues in one size class.
struct Queues {
  Queue small;
  Queue main;

  size_t items() const { return small.count + main.count; }
  uint32_t OldestTime(const ItemArena& arena) const {
    uint32_t oldest = UINT32_MAX;
    for (const Queue* queue : {&small, &main}) {
      if (queue->oldest != kNoItem) {
        oldest = std::min(oldest, LoadTime(*arena.Resolve(queue->oldest)));
      }
    }
    return oldest;
  }
};

}  // namespace

struct alignas(64) Store::Partition {  // A cache line each: tenants' counters apart.
  std::atomic<uint64_t> tenant{0};     // 0: free. Written under quotas_mu_.
  std::atomic<uint64_t> limit{0};      // Bytes; 0: no quota (any more).
  std::atomic<int64_t> bytes{0};       // The charges of its linked items.
  std::atomic<uint64_t> evictions{0};
  bool retired = false;  // Lost its quota: free once empty. Guarded by quotas_mu_.
};

struct Store::Stripe {
  explicit Stripe(size_t index)
      : index(index),
        buckets(kSlotsPerStripe, kNoItem),
        ghost(kSlotsPerStripe, 0),
        slots(kSlotsPerStripe) {}

  const size_t index;
  std::mutex mu;
  // Everything below is guarded by mu; the counters are atomics only so that Stats()
  // can read them without taking every lock.
  // Ordered by cluster slot: the stripe's n-th slot has the n-th run of
  // buckets.size() / kSlotsPerStripe buckets (Store's header).
  // Invariant: size is a power of two, at least kSlotsPerStripe.
  std::vector<ItemRef> buckets;
  size_t count = 0;
  // S3-FIFO's ghost: 16-bit fingerprints of keys recently evicted from a small queue,
  // in a direct-mapped table as large as the hash table (a newer key replaces an older
  // one in its slot): 2-4 bytes per item. A set with FIFO order took 48 and outgrew the
  // pages it was remembering for.
  std::vector<uint16_t> ghost;
  uint64_t cas_counter = 0;
  std::vector<SlotUsage> slots;  // The stripe's cluster slots, in order.
  // Keys deleted while their slot was incoming (Store::SetMoving).
  std::unordered_set<std::string> tombstones;
  // The sweep's shortcut (SweepExpired): no item here expires before `earliest_expiry`
  // (it may be earlier than any still does), and the flush_all whose oldest-live time
  // is `flush_swept` left nothing behind. Walking a stripe with nothing to sweep cost 10%
  // of the CPU of a cluster moving slots (perf: 8 nodes of up to 100,000 items, 10 sweeps/s).
  uint32_t earliest_expiry = UINT32_MAX;
  int64_t flush_swept = -1;

  std::atomic<uint64_t> items{0}, total_items{0}, evictions{0}, expired{0}, evicted_unfetched{0},
      expired_unfetched{0};

  static size_t SlotInStripe(uint64_t hash) { return (hash % kClusterSlots) / kStripes; }
  void NoteExpiry(uint32_t exptime) {
    if (exptime != 0) {
      earliest_expiry = std::min(earliest_expiry, exptime);
    }
  }
  size_t BucketsPerSlot() const { return buckets.size() / kSlotsPerStripe; }
  ItemRef* Bucket(uint64_t hash) {
    return &buckets[SlotInStripe(hash) * BucketsPerSlot() +
                    ((hash >> 32) & (BucketsPerSlot() - 1))];
  }
  // What one more or one fewer item of `hash` does to its slot's usage.
  void Count(uint64_t hash, size_t charge, bool added) {
    SlotUsage& usage = slots[SlotInStripe(hash)];
    usage.items = added ? usage.items + 1 : usage.items - 1;
    usage.bytes = added ? usage.bytes + charge : usage.bytes - charge;
  }

  void Grow(const ItemArena& arena) {
    std::vector<ItemRef> old(buckets.size() * 2, kNoItem);
    old.swap(buckets);
    for (ItemRef head : old) {
      while (head != kNoItem) {
        Item* item = arena.Resolve(head);
        const ItemRef next = item->hash_next;
        ItemRef* bucket = Bucket(HashKey(item->key()));
        item->hash_next = *bucket;
        *bucket = head;
        head = next;
      }
    }
    // Growing forgets the ghost: its slots were chosen for the old size.
    ghost.assign(buckets.size(), 0);
  }

  // Ghost slots come from the hash's high bits, fingerprints from bits that neither the
  // stripe (the low 6) nor the ghost slot uses.
  static uint16_t Fingerprint(uint64_t hash) { return static_cast<uint16_t>(hash >> 8) | 1; }
  uint16_t& GhostSlot(uint64_t hash) { return ghost[(hash >> 32) & (ghost.size() - 1)]; }
  void RememberGhost(uint64_t hash) { GhostSlot(hash) = Fingerprint(hash); }
  bool ForgetGhost(uint64_t hash) {
    uint16_t& slot = GhostSlot(hash);
    if (slot != Fingerprint(hash)) {
      return false;
    }
    slot = 0;
    return true;
  }
};

struct Store::SizeClass {
  explicit SizeClass(uint32_t slot_size) : slot_size(slot_size) {}

  const uint32_t slot_size;  // 0: items larger than half a page, one mapping each.
  mutable std::mutex mu;
  // Guarded by mu:
  ItemRef free_list = kNoItem;  // Through Item::hash_next.
  // The newest page is used up in order; its slots from fresh_next on were never used
  // (so never touched: RSS grows with the items, not the pages).
  uint32_t fresh_page = ItemArena::kNoPage;
  uint32_t fresh_next = 0;
  std::vector<uint32_t> pages;
  // Per partition (Store's header); those from partitions_end on were never used.
  std::array<Queues, kPartitions> queues;
  size_t partitions_end = 1;
  size_t linked = 0;  // Items in all of them.
  size_t evictions_since_rebalance = 0;
  uint64_t evictions = 0;
  size_t large_bytes = 0;  // The large class's mappings.
  // Slots on the free list or never used; an atomic so that neighbours can look
  // without the lock.
  std::atomic<size_t> free_slots{0};

  size_t items() const { return linked; }
  void Link(const ItemArena& arena, ItemRef ref, Item* item, bool to_main) {
    item->in_main = to_main;
    Queues& partition = queues[item->partition];
    (to_main ? partition.main : partition.small).PushNewest(arena, ref, item);
    partitions_end = std::max<size_t>(partitions_end, item->partition + 1);
    ++linked;
  }
  void Unlink(const ItemArena& arena, Item* item) {
    Queues& partition = queues[item->partition];
    (item->in_main ? partition.main : partition.small).Unlink(arena, item);
    --linked;
  }
  // Evictions after which the class asks whether an older class should give it a page.
  size_t EvictionsPerRebalance() const {
    return slot_size == 0 ? 2 : ItemArena::kPageSize / slot_size;
  }
  uint32_t OldestTime(const ItemArena& arena) const {
    uint32_t oldest = UINT32_MAX;
    for (size_t i = 0; i < partitions_end; ++i) {
      oldest = std::min(oldest, queues[i].OldestTime(arena));
    }
    return oldest;
  }
  // The partition a full class evicts from: the one whose oldest item is oldest.
  // REQUIRES: items() > 0.
  uint8_t OldestPartition(const ItemArena& arena) const {
    uint8_t chosen = 0;
    uint32_t oldest = UINT32_MAX;
    for (size_t i = 0; partitions_end > 1 && i < partitions_end; ++i) {
      const uint32_t time = queues[i].items() > 0 ? queues[i].OldestTime(arena) : UINT32_MAX;
      if (time < oldest) {
        oldest = time;
        chosen = static_cast<uint8_t>(i);
      }
    }
    return chosen;
  }
};

Store::Store(StoreOptions options)
    : options_(options), arena_(options.memory_limit), partitions_(new Partition[kPartitions]) {
  for (size_t i = 0; i < kStripes; ++i) {
    stripes_.push_back(std::make_unique<Stripe>(i));
  }
  const SizeClasses& table = SizeClasses::Get();
  for (size_t i = 0; i < table.count(); ++i) {
    classes_.push_back(std::make_unique<SizeClass>(table.SlotSize(i)));
  }
  classes_.push_back(std::make_unique<SizeClass>(0));
}

Store::~Store() = default;

Store::SizeClass& Store::ClassOf(ItemRef ref) {
  if (ItemArena::IsLarge(ref)) {
    return *classes_.back();
  }
  return *classes_[SizeClasses::Get().ClassFor(arena_.ChargeOf(ref))];
}

Store::Slot Store::Lock(std::string_view key, uint32_t now) {
  const uint64_t hash = HashKey(key);
  return Slot(*this, StripeFor(hash), key, hash, now);
}

Store::Slot::Slot(Store& store, Stripe& stripe, std::string_view key, uint64_t hash, uint32_t now)
    : store_(store), stripe_(stripe), lock_(stripe.mu), key_(key), hash_(hash), now_(now) {}

Store::Slot::~Slot() = default;

ItemRef* Store::Slot::FindLink() {
  for (ItemRef* link = stripe_.Bucket(hash_); *link != kNoItem;
       link = &store_.arena_.Resolve(*link)->hash_next) {
    if (store_.arena_.Resolve(*link)->key() == key_) {
      return link;
    }
  }
  return nullptr;
}

Item* Store::Slot::Find() {
  ItemRef* link = FindLink();
  if (link == nullptr) {
    return nullptr;
  }
  const ItemRef ref = *link;
  Item* item = store_.arena_.Resolve(ref);
  if (item->IsExpired(now_)) {
    store_.Remove(stripe_, ref, MutationOp::kExpire, now_);
    found_expired_ = true;
    return nullptr;
  }
  if (store_.IsFlushed(*item, now_)) {
    store_.Remove(stripe_, ref, MutationOp::kFlush, now_);
    return nullptr;
  }
  return item;
}

void Store::Slot::Bump(Item* item) {
  if (item->freq < 3) {
    ++item->freq;
  }
  item->fetched = 1;
  std::atomic_ref<uint32_t>(item->time).store(now_, std::memory_order_relaxed);
}

Item* Store::Slot::Allocate(uint32_t value_length, uint32_t client_flags, uint32_t exptime) {
  ItemRef* current = FindLink();
  const Item* pinned = current != nullptr ? store_.arena_.Resolve(*current) : nullptr;
  const size_t size = ItemSize(key_.size(), value_length);
  const uint8_t partition = store_.PartitionOf(key_);
  if (partition != 0) {
    // A new version replaces the current one, whose memory it takes back.
    const size_t had =
        pinned != nullptr && pinned->partition == partition ? store_.arena_.ChargeOf(*current) : 0;
    store_.KeepWithinQuota(partition, size > had ? size - had : 0, stripe_, pinned, now_);
  }
  Item* item = store_.AllocateItem(stripe_, size, pinned, now_);
  if (item == nullptr) {
    return nullptr;
  }
  item->partition = partition;
  item->key_length = static_cast<uint8_t>(key_.size());
  item->value_length = value_length;
  item->client_flags = client_flags;
  item->exptime = exptime;
  item->time = now_;
  std::memcpy(item->data, key_.data(), key_.size());
  return item;
}

void Store::Slot::Discard(Item* item) {
  const ItemRef ref = store_.arena_.RefOf(item);
  SizeClass& cls = store_.ClassOf(ref);
  std::lock_guard lock(cls.mu);
  store_.FreeSlot(cls, ref, item);
}

void Store::Slot::Commit(Item* item, uint64_t cas) { CommitAs(item, cas, MutationOp::kStore); }

void Store::Slot::CommitMovedIn(Item* item, uint64_t cas) {
  CommitAs(item, cas, MutationOp::kMoveIn);
}

void Store::Slot::CommitAs(Item* item, uint64_t cas, MutationOp op) {
  if (cas != 0) {
    // A CAS from elsewhere (meta E, a move, the main): this stripe's own go above it, so
    // that no later version of another key shares it.
    stripe_.cas_counter = std::max(stripe_.cas_counter, cas / kStripes);
  }
  item->cas = cas != 0 ? cas : ++stripe_.cas_counter * kStripes + stripe_.index;
  const ItemRef ref = store_.arena_.RefOf(item);
  bool to_main = false;
  if (ItemRef* link = FindLink()) {
    Item* old = store_.arena_.Resolve(*link);
    // A new version of a key inherits its place and counts as one more access: an often
    // rewritten key is a hot key.
    to_main = old->in_main;
    item->freq = std::min(old->freq + 1, 3);
    store_.Remove(stripe_, *link, MutationOp::kStore, now_);  // Not reported: the store below is.
  } else if (stripe_.ForgetGhost(hash_)) {
    to_main = true;
  }
  ItemRef* bucket = stripe_.Bucket(hash_);
  item->hash_next = *bucket;
  *bucket = ref;
  {
    SizeClass& cls = store_.ClassOf(ref);
    std::lock_guard lock(cls.mu);
    item->state = ItemState::kLinked;
    cls.Link(store_.arena_, ref, item, to_main);
  }
  store_.CountInPartition(*item, static_cast<int64_t>(store_.arena_.ChargeOf(ref)));
  ++stripe_.count;
  stripe_.NoteExpiry(item->exptime);
  stripe_.Count(hash_, store_.arena_.ChargeOf(ref), /*added=*/true);
  stripe_.items.fetch_add(1, std::memory_order_relaxed);
  stripe_.total_items.fetch_add(1, std::memory_order_relaxed);
  if (stripe_.count > stripe_.buckets.size()) {
    stripe_.Grow(store_.arena_);
  }
  store_.Emit(
      {0, op, item->key(), item->value(), item->client_flags, item->exptime, item->cas, now_});
}

void Store::Slot::Erase(MutationOp op) {
  const Moving moving = op == MutationOp::kDelete
                            ? store_.moving(static_cast<uint32_t>(hash_ % kClusterSlots))
                            : Moving::kNo;
  if (moving == Moving::kIn) {
    stripe_.tombstones.emplace(key_);
  }
  if (ItemRef* link = FindLink()) {
    store_.Remove(stripe_, *link, op, now_);
  } else if (moving != Moving::kNo) {
    store_.Emit({0, op, key_, {}, 0, 0, 0, now_});
  }
}

bool Store::Slot::incoming() const {
  return store_.moving(static_cast<uint32_t>(hash_ % kClusterSlots)) == Moving::kIn;
}

bool Store::Slot::tombstoned() const {
  return incoming() && stripe_.tombstones.contains(std::string(key_));
}

void Store::Slot::SetExptime(uint32_t exptime) {
  ItemRef* link = FindLink();
  TRELLIS_CHECK(link != nullptr);
  Item* item = store_.arena_.Resolve(*link);
  item->exptime = exptime;
  stripe_.NoteExpiry(exptime);
  store_.Emit(
      {0, MutationOp::kTouch, item->key(), {}, item->client_flags, exptime, item->cas, now_});
}

Item* Store::AllocateItem(Stripe& held, size_t size, const Item* pinned, uint32_t now) {
  const SizeClasses& table = SizeClasses::Get();
  const size_t index = table.ClassFor(size);
  SizeClass& cls = index == SizeClasses::kNone ? *classes_.back() : *classes_[index];
  // Larger classes whose slots waste at most a quarter of this item lend it their free
  // slots, and evict for it while it has no items of its own: a class that sees few
  // items then needs no page of its own (with 8-byte steps, most classes see few).
  const size_t neighbours_begin = index == SizeClasses::kNone ? table.count() : index + 1;
  size_t neighbours_end = neighbours_begin;
  while (neighbours_end < table.count() && table.SlotSize(neighbours_end) <= size + size / 4) {
    ++neighbours_end;
  }
  for (int attempt = 0; attempt < kAllocateAttempts; ++attempt) {
    {
      std::lock_guard lock(cls.mu);
      if (Item* item = TakeSlot(cls, size)) {
        return item;
      }
    }
    for (size_t i = neighbours_begin; i < neighbours_end; ++i) {
      SizeClass& neighbour = *classes_[i];
      if (neighbour.free_slots.load(std::memory_order_relaxed) > 0) {
        std::lock_guard lock(neighbour.mu);
        if (Item* item = TakeFreeSlot(neighbour)) {
          return item;
        }
      }
    }
    if (!options_.evict) {
      return nullptr;
    }
    bool starved = false;
    {
      std::lock_guard lock(cls.mu);
      starved = cls.items() == 0;
      if (!starved && ++cls.evictions_since_rebalance < cls.EvictionsPerRebalance()) {
        if (EvictOne(cls, held, pinned, now)) {
          continue;
        }
        starved = true;  // Every item of the class is busy.
      }
      cls.evictions_since_rebalance = 0;
    }
    if (starved) {
      for (size_t i = neighbours_begin; i < neighbours_end; ++i) {
        SizeClass& neighbour = *classes_[i];
        std::lock_guard lock(neighbour.mu);
        if (neighbour.items() > 0 && EvictOne(neighbour, held, pinned, now)) {
          if (Item* item = TakeFreeSlot(neighbour)) {
            return item;
          }
        }
      }
    }
    if (!MoveMemoryTo(cls, held, pinned, now, starved)) {
      std::unique_lock lock(cls.mu);
      if (starved || !EvictOne(cls, held, pinned, now)) {
        // What could be freed is in use by other requests right now.
        lock.unlock();
        std::this_thread::yield();
      }
    }
  }
  return nullptr;
}

Item* Store::TakeSlot(SizeClass& cls, size_t size) {
  if (cls.slot_size == 0) {
    Item* item = arena_.AllocateLarge(size);
    if (item == nullptr) {
      return nullptr;
    }
    const size_t charge = arena_.ChargeOf(arena_.RefOf(item));
    cls.large_bytes += charge;
    used_bytes_.fetch_add(charge, std::memory_order_relaxed);
    item->state = ItemState::kAllocated;
    return item;
  }
  if (cls.free_list == kNoItem && cls.fresh_page == ItemArena::kNoPage) {
    cls.fresh_page = arena_.AcquirePage(cls.slot_size);
    if (cls.fresh_page == ItemArena::kNoPage) {
      return nullptr;
    }
    cls.fresh_next = 0;
    cls.pages.push_back(cls.fresh_page);
    cls.free_slots.fetch_add(arena_.SlotsPerPage(cls.fresh_page), std::memory_order_relaxed);
  }
  return TakeFreeSlot(cls);
}

Item* Store::TakeFreeSlot(SizeClass& cls) {
  ItemRef ref;
  if (cls.free_list != kNoItem) {
    ref = cls.free_list;
    cls.free_list = arena_.Resolve(ref)->hash_next;
  } else if (cls.fresh_page != ItemArena::kNoPage) {
    ref = ItemArena::SlotRef(cls.fresh_page, cls.fresh_next);
    if (++cls.fresh_next == arena_.SlotsPerPage(cls.fresh_page)) {
      cls.fresh_page = ItemArena::kNoPage;
    }
  } else {
    return nullptr;
  }
  cls.free_slots.fetch_sub(1, std::memory_order_relaxed);
  Item* item = arena_.Resolve(ref);
  std::memset(static_cast<void*>(item), 0, offsetof(Item, data));
  item->state = ItemState::kAllocated;
  used_bytes_.fetch_add(cls.slot_size, std::memory_order_relaxed);
  return item;
}

void Store::FreeSlot(SizeClass& cls, ItemRef ref, Item* item) {
  used_bytes_.fetch_sub(arena_.ChargeOf(ref), std::memory_order_relaxed);
  if (cls.slot_size == 0) {
    cls.large_bytes -= arena_.ChargeOf(ref);
    arena_.FreeLarge(ref);
    return;
  }
  item->state = ItemState::kFree;
  item->hash_next = cls.free_list;
  cls.free_list = ref;
  cls.free_slots.fetch_add(1, std::memory_order_relaxed);
}

bool Store::EvictOne(SizeClass& cls, Stripe& held, const Item* pinned, uint32_t now) {
  return cls.items() > 0 && EvictFromPartition(cls, cls.OldestPartition(arena_), held, pinned, now);
}

bool Store::EvictFromPartition(SizeClass& cls, uint8_t partition, Stripe& held, const Item* pinned,
                               uint32_t now) {
  Queues& queues = cls.queues[partition];
  for (int skips = 0; queues.items() > 0 && skips < kMaxEvictionSkips;) {
    const bool from_small = queues.small.count > 0 &&
                            (queues.main.count == 0 || queues.small.count * 10 >= queues.items());
    Queue& queue = from_small ? queues.small : queues.main;
    const ItemRef ref = queue.oldest;
    Item* item = arena_.Resolve(ref);
    const uint64_t hash = HashKey(item->key());
    Stripe& owner = StripeFor(hash);
    std::unique_lock<std::mutex> owner_lock;
    if (&owner != &held) {
      owner_lock = std::unique_lock(owner.mu, std::try_to_lock);
    }
    if (item == pinned || (&owner != &held && !owner_lock.owns_lock())) {
      // In use by a request: look at the next one.
      queue.Unlink(arena_, item);
      queue.PushNewest(arena_, ref, item);
      ++skips;
      continue;
    }
    if (item->IsExpired(now)) {
      Remove(owner, ref, MutationOp::kExpire, now, /*cls_locked=*/true);
      return true;
    }
    if (item->freq > 0) {
      // Accessed since it entered this queue: promote to (or keep in) main.
      queue.Unlink(arena_, item);
      item->freq = from_small ? 0 : item->freq - 1;
      item->in_main = true;
      queues.main.PushNewest(arena_, ref, item);
      continue;
    }
    if (from_small) {
      owner.RememberGhost(hash);
    }
    Remove(owner, ref, MutationOp::kEvict, now, /*cls_locked=*/true);
    return true;
  }
  return false;
}

bool Store::MoveMemoryTo(SizeClass& cls, Stripe& held, const Item* pinned, uint32_t now,
                         bool starved) {
  uint32_t own_oldest;
  {
    std::lock_guard lock(cls.mu);
    own_oldest = cls.OldestTime(arena_);
  }
  // Candidates, oldest first; a class with pages and no items, or with more than two
  // pages of free slots (its pages are sparse), gives its memory first. The sparse rule
  // raised the worst of 12 four-phase churn runs at --memory 16 from 8.8 to 12.8 MB of
  // items (median 13.3 -> 13.1) and left the Zipf hit ratio as it was (docs/cache.md).
  std::vector<std::pair<uint32_t, SizeClass*>> victims;
  for (auto& other : classes_) {
    if (other.get() == &cls) {
      continue;
    }
    std::lock_guard lock(other->mu);
    if (other->slot_size == 0 ? other->items() > 0 : !other->pages.empty()) {
      const bool sparse =
          other->slot_size != 0 && other->free_slots.load(std::memory_order_relaxed) >
                                       2 * ItemArena::kPageSize / other->slot_size;
      victims.emplace_back(other->items() == 0 || sparse ? 0 : other->OldestTime(arena_),
                           other.get());
    }
  }
  std::sort(victims.begin(), victims.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  const uint64_t own_age = now - std::min(own_oldest, now);
  for (const auto& [oldest, victim] : victims) {
    if (!starved && now - std::min(oldest, now) <= 2 * own_age) {
      return false;
    }
    std::lock_guard lock(victim->mu);
    if (victim->slot_size == 0 ? EvictOne(*victim, held, pinned, now)
                               : ReleasePage(*victim, held, pinned, now)) {
      return true;
    }
  }
  return false;
}

bool Store::ReleasePage(SizeClass& cls, Stripe& held, const Item* pinned, uint32_t now) {
  for (size_t position = 0; position < std::min<size_t>(cls.pages.size(), 4); ++position) {
    const uint32_t page = cls.pages[position];
    if (!EvacuatePage(cls, page, held, pinned, now)) {
      continue;
    }
    // Every slot of the page is free now: drop them from the free list.
    for (ItemRef* link = &cls.free_list; *link != kNoItem;) {
      if (ItemArena::PageOf(*link) == page) {
        *link = arena_.Resolve(*link)->hash_next;
      } else {
        link = &arena_.Resolve(*link)->hash_next;
      }
    }
    if (cls.fresh_page == page) {
      cls.fresh_page = ItemArena::kNoPage;
    }
    cls.pages[position] = cls.pages.back();
    cls.pages.pop_back();
    cls.free_slots.fetch_sub(arena_.SlotsPerPage(page), std::memory_order_relaxed);
    arena_.ReleasePage(page);
    return true;
  }
  return false;
}

bool Store::EvacuatePage(SizeClass& cls, uint32_t page, Stripe& held, const Item* pinned,
                         uint32_t now) {
  // Nothing is evicted unless the whole page can be: a page left half evacuated (some of
  // its items busy) kept its evicted items' slots free in a class that might not need
  // them, and under load that stranded up to a fifth of --memory 16 (docs/cache.md). So
  // first every item's stripe is tried, one at a time (holding them all at once would be
  // up to 64 locks); only a stripe taken in between still leaves a page half done.
  const uint32_t used_slots = page == cls.fresh_page ? cls.fresh_next : arena_.SlotsPerPage(page);
  std::bitset<kStripes> owners;
  for (uint32_t slot = 0; slot < used_slots; ++slot) {
    const Item* item = arena_.Resolve(ItemArena::SlotRef(page, slot));
    if (item->state == ItemState::kFree) {
      continue;
    }
    if (item->state == ItemState::kAllocated || item == pinned) {
      return false;  // A request is filling or replacing it.
    }
    owners.set(HashKey(item->key()) % kStripes);
  }
  for (size_t i = 0; i < kStripes; ++i) {
    if (owners.test(i) && stripes_[i].get() != &held &&
        !std::unique_lock(stripes_[i]->mu, std::try_to_lock).owns_lock()) {
      return false;
    }
  }
  bool emptied = true;
  for (uint32_t slot = 0; slot < used_slots; ++slot) {
    const ItemRef ref = ItemArena::SlotRef(page, slot);
    const Item* item = arena_.Resolve(ref);
    if (item->state == ItemState::kFree) {
      continue;
    }
    Stripe& owner = StripeFor(HashKey(item->key()));
    std::unique_lock<std::mutex> owner_lock;
    if (&owner != &held) {
      owner_lock = std::unique_lock(owner.mu, std::try_to_lock);
      if (!owner_lock.owns_lock()) {
        emptied = false;
        continue;
      }
    }
    Remove(owner, ref, MutationOp::kEvict, now, /*cls_locked=*/true);
  }
  return emptied;
}

void Store::CountInPartition(const Item& item, int64_t bytes) {
  // The shared partition counts nothing: its one counter would be every thread's on
  // every store.
  if (item.partition != 0) {
    partitions_[item.partition].bytes.fetch_add(bytes, std::memory_order_relaxed);
  }
}

uint8_t Store::PartitionOf(std::string_view key) const {
  const uint64_t tenant = proto::memcache::TenantOfKey(key);
  if (tenant == 0) {
    return 0;
  }
  const size_t used = partitions_used_.load(std::memory_order_acquire);
  for (size_t i = 1; i < used; ++i) {
    const Partition& partition = partitions_[i];
    if (partition.tenant.load(std::memory_order_relaxed) == tenant) {
      return partition.limit.load(std::memory_order_relaxed) != 0 ? static_cast<uint8_t>(i) : 0;
    }
  }
  return 0;
}

void Store::KeepWithinQuota(uint8_t index, size_t size, Stripe& held, const Item* pinned,
                            uint32_t now) {
  const Partition& partition = partitions_[index];
  for (int attempt = 0; attempt < kAllocateAttempts; ++attempt) {
    const uint64_t limit = partition.limit.load(std::memory_order_relaxed);
    const int64_t bytes = partition.bytes.load(std::memory_order_relaxed);
    if (limit == 0 || bytes + static_cast<int64_t>(size) <= static_cast<int64_t>(limit)) {
      return;
    }
    // The partition's oldest item, whatever its class.
    SizeClass* victim = nullptr;
    uint32_t oldest = UINT32_MAX;
    for (auto& cls : classes_) {
      std::lock_guard lock(cls->mu);
      const Queues& queues = cls->queues[index];
      const uint32_t time = queues.items() > 0 ? queues.OldestTime(arena_) : UINT32_MAX;
      if (time < oldest) {
        oldest = time;
        victim = cls.get();
      }
    }
    if (victim == nullptr) {
      return;  // Nothing of its own left to evict.
    }
    std::unique_lock lock(victim->mu);
    if (!EvictFromPartition(*victim, index, held, pinned, now)) {
      lock.unlock();
      std::this_thread::yield();  // Its items are in use by other requests right now.
    }
  }
}

void Store::SetTenantQuotas(const std::vector<TenantQuota>& quotas) {
  std::lock_guard lock(quotas_mu_);
  std::vector<bool> kept(kPartitions, false);
  size_t used = partitions_used_.load(std::memory_order_relaxed);
  for (const TenantQuota& quota : quotas) {
    if (quota.tenant == 0 || quota.limit_bytes == 0) {
      continue;
    }
    // The tenant's own partition if it has one, else the first free one.
    size_t index = 0;
    for (size_t i = 1; i < used && index == 0; ++i) {
      index = partitions_[i].tenant.load(std::memory_order_relaxed) == quota.tenant ? i : 0;
    }
    for (size_t i = 1; i < kPartitions && index == 0; ++i) {
      index = partitions_[i].tenant.load(std::memory_order_relaxed) == 0 ? i : 0;
    }
    if (index == 0) {
      spdlog::warn("tenant {}: no memory quota on this node, which enforces at most {} at a time",
                   quota.tenant, kMaxQuotas);
      continue;
    }
    Partition& partition = partitions_[index];
    partition.limit.store(quota.limit_bytes, std::memory_order_relaxed);
    partition.retired = false;
    partition.tenant.store(quota.tenant, std::memory_order_relaxed);
    kept[index] = true;
    used = std::max(used, index + 1);
  }
  for (size_t i = 1; i < used; ++i) {
    Partition& partition = partitions_[i];
    if (kept[i] || partition.tenant.load(std::memory_order_relaxed) == 0) {
      continue;
    }
    if (!partition.retired) {  // Lost its quota: its items leave as others do.
      partition.limit.store(0, std::memory_order_relaxed);
      partition.retired = true;
    } else if (partition.bytes.load(std::memory_order_relaxed) == 0) {
      partition.tenant.store(0, std::memory_order_relaxed);  // Empty since: free.
      partition.retired = false;
    }
  }
  partitions_used_.store(used, std::memory_order_release);
}

std::vector<TenantMemory> Store::TenantMemoryUsage() const {
  std::vector<TenantMemory> usage;
  const size_t used = partitions_used_.load(std::memory_order_acquire);
  for (size_t i = 1; i < used; ++i) {
    const Partition& partition = partitions_[i];
    const uint64_t limit = partition.limit.load(std::memory_order_relaxed);
    if (partition.tenant.load(std::memory_order_relaxed) != 0 && limit != 0) {
      usage.push_back({partition.tenant.load(std::memory_order_relaxed), limit,
                       static_cast<uint64_t>(
                           std::max<int64_t>(0, partition.bytes.load(std::memory_order_relaxed))),
                       partition.evictions.load(std::memory_order_relaxed)});
    }
  }
  return usage;
}

void Store::Detach(Stripe& stripe, Item* item, ItemRef ref, MutationOp op, uint32_t now) {
  const uint64_t hash = HashKey(item->key());
  for (ItemRef* link = stripe.Bucket(hash); *link != kNoItem;
       link = &arena_.Resolve(*link)->hash_next) {
    if (*link == ref) {
      *link = item->hash_next;
      break;
    }
  }
  --stripe.count;
  stripe.Count(hash, arena_.ChargeOf(ref), /*added=*/false);
  stripe.items.fetch_sub(1, std::memory_order_relaxed);
  if (op == MutationOp::kExpire) {
    stripe.expired.fetch_add(1, std::memory_order_relaxed);
    if (!item->fetched) {
      stripe.expired_unfetched.fetch_add(1, std::memory_order_relaxed);
    }
  } else if (op == MutationOp::kEvict) {
    stripe.evictions.fetch_add(1, std::memory_order_relaxed);
    if (!item->fetched) {
      stripe.evicted_unfetched.fetch_add(1, std::memory_order_relaxed);
    }
  }
  // kStore (replaced by a new version) and kFlush (covered by the flush record) are
  // reported by their callers.
  if (op != MutationOp::kStore && op != MutationOp::kFlush) {
    Emit({0, op, item->key(), {}, item->client_flags, item->exptime, item->cas, now});
  }
}

void Store::Remove(Stripe& stripe, ItemRef ref, MutationOp op, uint32_t now, bool cls_locked) {
  Item* item = arena_.Resolve(ref);
  Detach(stripe, item, ref, op, now);
  SizeClass& cls = ClassOf(ref);
  std::unique_lock<std::mutex> lock(cls.mu, std::defer_lock);
  if (!cls_locked) {
    lock.lock();
  }
  if (op == MutationOp::kEvict) {
    ++cls.evictions;
    if (item->partition != 0) {
      partitions_[item->partition].evictions.fetch_add(1, std::memory_order_relaxed);
    }
  }
  CountInPartition(*item, -static_cast<int64_t>(arena_.ChargeOf(ref)));
  cls.Unlink(arena_, item);
  FreeSlot(cls, ref, item);
}

bool Store::IsFlushed(const Item& item, uint32_t now) const {
  const int64_t oldest_live = flush_oldest_live_.load(std::memory_order_relaxed);
  return oldest_live >= 0 && oldest_live <= int64_t{now} && int64_t{item.time} <= oldest_live;
}

void Store::Emit(const MutationRecord& record) {
  MutationListener* listener = listener_.load(std::memory_order_acquire);
  if (listener == nullptr) {
    return;
  }
  MutationRecord numbered = record;
  numbered.sequence = sequence_.fetch_add(1, std::memory_order_relaxed) + 1;
  listener->OnMutation(numbered);
}

void Store::FlushAll(uint32_t now, int64_t delay, bool report) {
  const int64_t oldest_live = delay > 0 ? int64_t{now} + delay - 1 : int64_t{now} - 1;
  flush_oldest_live_.store(oldest_live, std::memory_order_relaxed);
  if (delay <= 0) {
    for (auto& stripe : stripes_) {
      std::lock_guard lock(stripe->mu);
      for (ItemRef& head : stripe->buckets) {
        while (head != kNoItem) {
          Remove(*stripe, head, MutationOp::kFlush, now);
        }
      }
    }
  }
  if (!report) {
    return;
  }
  Emit({0,
        MutationOp::kFlush,
        {},
        {},
        0,
        static_cast<uint32_t>(std::max<int64_t>(oldest_live, 0)),
        0,
        now});
}

void Store::SweepExpired(uint32_t now, size_t budget) {
  size_t visited = 0;
  while (visited < budget) {
    const size_t cursor = sweep_cursor_.fetch_add(1, std::memory_order_relaxed) % kStripes;
    Stripe& stripe = *stripes_[cursor];
    std::lock_guard lock(stripe.mu);
    const int64_t oldest_live = flush_oldest_live_.load(std::memory_order_relaxed);
    const bool flush_due =
        oldest_live >= 0 && oldest_live <= int64_t{now} && stripe.flush_swept != oldest_live;
    if (now >= stripe.earliest_expiry || flush_due) {
      stripe.earliest_expiry = UINT32_MAX;
      for (size_t bucket = 0; bucket < stripe.buckets.size(); ++bucket) {
        for (ItemRef ref = stripe.buckets[bucket]; ref != kNoItem;) {
          Item* item = arena_.Resolve(ref);
          const ItemRef next = item->hash_next;
          ++visited;
          if (item->IsExpired(now)) {
            Remove(stripe, ref, MutationOp::kExpire, now);
          } else if (IsFlushed(*item, now)) {
            Remove(stripe, ref, MutationOp::kFlush, now);
          } else {
            stripe.NoteExpiry(item->exptime);
          }
          ref = next;
        }
      }
      if (flush_due) {
        stripe.flush_swept = oldest_live;
      }
    }
    if (cursor == kStripes - 1) {
      break;  // One full pass per call at most.
    }
  }
}

void Store::ForEachItem(size_t stripe_index, const std::function<void(const Item&)>& fn) {
  Stripe& stripe = *stripes_[stripe_index];
  std::lock_guard lock(stripe.mu);
  const uint32_t now = base::CoarseUnixSeconds();
  for (ItemRef head : stripe.buckets) {
    for (ItemRef ref = head; ref != kNoItem;) {
      const Item* item = arena_.Resolve(ref);
      if (!item->IsExpired(now) && !IsFlushed(*item, now)) {
        fn(*item);
      }
      ref = item->hash_next;
    }
  }
}

uint64_t Store::ForEachItemOfSlot(uint32_t slot, uint64_t cursor, size_t limit,
                                  const std::function<void(const Item&)>& fn) {
  Stripe& stripe = *stripes_[slot % kStripes];
  std::lock_guard lock(stripe.mu);
  const uint32_t now = base::CoarseUnixSeconds();
  // The cursor is a bucket's place within the slot's run. When the table doubles, the
  // run doubles and the items of its n-th bucket move to its n-th or its (n + old
  // size)-th, so going on from the same place misses none.
  const size_t run = stripe.BucketsPerSlot();
  const size_t first = (slot / kStripes) * run;
  size_t seen = 0;
  for (size_t place = cursor; place < run; ++place) {
    for (ItemRef ref = stripe.buckets[first + place]; ref != kNoItem;) {
      const Item* item = arena_.Resolve(ref);
      if (!item->IsExpired(now) && !IsFlushed(*item, now)) {
        fn(*item);
        ++seen;
      }
      ref = item->hash_next;
    }
    if (seen >= limit && place + 1 < run) {
      return place + 1;
    }
  }
  return 0;
}

void Store::SetMoving(uint32_t slot, Moving moving) {
  TRELLIS_CHECK(slot < kClusterSlots);
  Stripe& stripe = *stripes_[slot % kStripes];
  std::lock_guard lock(stripe.mu);
  moving_[slot].store(moving, std::memory_order_release);
  if (moving != Moving::kIn) {
    std::erase_if(stripe.tombstones,
                  [slot](const std::string& key) { return HashKey(key) % kClusterSlots == slot; });
  }
}

SlotUsage Store::UsageOfSlot(uint32_t slot) const {
  Stripe& stripe = *stripes_[slot % kStripes];
  std::lock_guard lock(stripe.mu);
  return stripe.slots[slot / kStripes];
}

StoreStats Store::Stats() const {
  StoreStats stats;
  stats.bytes = used_bytes_.load(std::memory_order_relaxed);
  for (const auto& stripe : stripes_) {
    stats.items += stripe->items.load(std::memory_order_relaxed);
    stats.total_items += stripe->total_items.load(std::memory_order_relaxed);
    stats.evictions += stripe->evictions.load(std::memory_order_relaxed);
    stats.expired += stripe->expired.load(std::memory_order_relaxed);
    stats.evicted_unfetched += stripe->evicted_unfetched.load(std::memory_order_relaxed);
    stats.expired_unfetched += stripe->expired_unfetched.load(std::memory_order_relaxed);
  }
  return stats;
}

std::vector<SizeClassStats> Store::ClassStats() const {
  std::vector<SizeClassStats> result;
  for (size_t index = 0; index < classes_.size(); ++index) {
    const SizeClass* cls = classes_[index].get();
    std::lock_guard lock(cls->mu);
    if (cls->pages.empty() && cls->items() == 0 && cls->evictions == 0) {
      continue;
    }
    SizeClassStats stats;
    stats.id = static_cast<uint32_t>(index + 1);
    stats.slot_size = cls->slot_size;
    stats.pages = cls->pages.size();
    stats.bytes = stats.pages * ItemArena::kPageSize + cls->large_bytes;
    stats.items = cls->items();
    stats.evictions = cls->evictions;
    stats.free_slots = cls->free_slots.load(std::memory_order_relaxed);
    const uint32_t oldest = cls->OldestTime(arena_);
    stats.oldest_time = oldest == UINT32_MAX ? 0 : oldest;
    result.push_back(stats);
  }
  return result;
}

}  // namespace trellis::cache
