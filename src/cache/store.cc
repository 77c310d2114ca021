#include "cache/store.h"

#include <malloc.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "base/check.h"

namespace trellis::cache {

namespace {

uint64_t HashKey(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

// A doubly linked FIFO through Item::newer/older.
struct Queue {
  Item* newest = nullptr;
  Item* oldest = nullptr;
  size_t bytes = 0;

  void PushNewest(Item* item, size_t charge) {
    item->older = newest;
    item->newer = nullptr;
    if (newest != nullptr) {
      newest->newer = item;
    } else {
      oldest = item;
    }
    newest = item;
    bytes += charge;
  }
  void Unlink(Item* item, size_t charge) {
    (item->newer ? item->newer->older : newest) = item->older;
    (item->older ? item->older->newer : oldest) = item->newer;
    item->newer = item->older = nullptr;
    bytes -= charge;
  }
};

size_t ChargeOf(Item* item) { return malloc_usable_size(item); }

}  // namespace

struct Store::Stripe {
  explicit Stripe(size_t index) : index(index), buckets(64, nullptr) {}

  const size_t index;
  std::mutex mu;
  // Everything below is guarded by mu; the counters are atomics only so that Stats()
  // can read them without taking every lock.
  std::vector<Item*> buckets;  // Invariant: size is a power of two.
  size_t count = 0;
  Queue small;
  Queue main;
  // Key hashes of items evicted from the small queue, oldest first (S3-FIFO's ghost).
  std::unordered_set<uint64_t> ghost;
  std::deque<uint64_t> ghost_order;
  uint64_t cas_counter = 0;

  std::atomic<uint64_t> items{0}, total_items{0}, evictions{0}, expired{0}, evicted_unfetched{0},
      expired_unfetched{0};

  Item** Bucket(uint64_t hash) { return &buckets[(hash >> 32) & (buckets.size() - 1)]; }
  Queue& QueueOf(const Item* item) { return item->in_main ? main : small; }

  void Grow() {
    std::vector<Item*> old(buckets.size() * 2, nullptr);
    old.swap(buckets);
    for (Item* head : old) {
      while (head != nullptr) {
        Item* next = head->hash_next;
        Item** bucket = Bucket(HashKey(head->key()));
        head->hash_next = *bucket;
        *bucket = head;
        head = next;
      }
    }
  }

  void RememberGhost(uint64_t hash) {
    if (ghost.insert(hash).second) {
      ghost_order.push_back(hash);
    }
    while (ghost_order.size() > std::max<size_t>(count, 64)) {
      ghost.erase(ghost_order.front());
      ghost_order.pop_front();
    }
  }
};

Store::Store(StoreOptions options) : options_(options) {
  for (size_t i = 0; i < kStripes; ++i) {
    stripes_.push_back(std::make_unique<Stripe>(i));
  }
}

Store::~Store() {
  for (auto& stripe : stripes_) {
    for (Item* head : stripe->buckets) {
      while (head != nullptr) {
        Item* next = head->hash_next;
        std::free(head);
        head = next;
      }
    }
  }
}

Store::Slot Store::Lock(std::string_view key, uint32_t now) {
  const uint64_t hash = HashKey(key);
  return Slot(*this, StripeFor(hash), key, hash, now);
}

Store::Slot::Slot(Store& store, Stripe& stripe, std::string_view key, uint64_t hash, uint32_t now)
    : store_(store), stripe_(stripe), lock_(stripe.mu), key_(key), hash_(hash), now_(now) {}

Store::Slot::~Slot() = default;

Item** Store::Slot::FindLink() {
  for (Item** link = stripe_.Bucket(hash_); *link != nullptr; link = &(*link)->hash_next) {
    if ((*link)->key() == key_) {
      return link;
    }
  }
  return nullptr;
}

Item* Store::Slot::Find() {
  Item** link = FindLink();
  if (link == nullptr) {
    return nullptr;
  }
  Item* item = *link;
  if (item->IsExpired(now_)) {
    store_.Remove(stripe_, item, MutationOp::kExpire, now_);
    found_expired_ = true;
    return nullptr;
  }
  if (store_.IsFlushed(*item, now_)) {
    store_.Remove(stripe_, item, MutationOp::kFlush, now_);
    return nullptr;
  }
  return item;
}

void Store::Slot::Bump(Item* item) {
  if (item->freq < 3) {
    ++item->freq;
  }
  item->fetched = 1;
  item->time = now_;
}

Item* Store::Slot::Allocate(uint32_t value_length, uint32_t client_flags, uint32_t exptime) {
  const size_t size = sizeof(Item) + key_.size() + value_length;
  void* memory = std::malloc(size);
  if (memory == nullptr) {
    return nullptr;
  }
  Item* item = new (memory) Item{};
  const size_t charge = ChargeOf(item);
  Item** current = FindLink();
  if (!store_.Reserve(stripe_, charge, current ? *current : nullptr, now_)) {
    std::free(memory);
    return nullptr;
  }
  item->key_length = static_cast<uint8_t>(key_.size());
  item->value_length = value_length;
  item->client_flags = client_flags;
  item->exptime = exptime;
  item->time = now_;
  std::memcpy(item->data, key_.data(), key_.size());
  return item;
}

void Store::Slot::Discard(Item* item) {
  store_.used_bytes_.fetch_sub(ChargeOf(item), std::memory_order_relaxed);
  std::free(item);
}

void Store::Slot::Commit(Item* item, uint64_t cas) {
  item->cas = cas != 0 ? cas : ++stripe_.cas_counter * kStripes + stripe_.index;
  bool to_main = false;
  if (Item** link = FindLink()) {
    Item* old = *link;
    // A new version of a key inherits its place and counts as one more access: an often
    // rewritten key is a hot key.
    to_main = old->in_main;
    item->freq = std::min(old->freq + 1, 3);
    store_.Remove(stripe_, old, MutationOp::kStore, now_);  // Not reported: the store below is.
  } else if (stripe_.ghost.erase(hash_) > 0) {
    to_main = true;
  }
  Item** bucket = stripe_.Bucket(hash_);
  item->hash_next = *bucket;
  *bucket = item;
  item->in_main = to_main;
  stripe_.QueueOf(item).PushNewest(item, ChargeOf(item));
  ++stripe_.count;
  stripe_.items.fetch_add(1, std::memory_order_relaxed);
  stripe_.total_items.fetch_add(1, std::memory_order_relaxed);
  if (stripe_.count > stripe_.buckets.size()) {
    stripe_.Grow();
  }
  store_.Emit({0, MutationOp::kStore, item->key(), item->value(), item->client_flags, item->exptime,
               item->cas, now_});
}

void Store::Slot::Erase(MutationOp op) {
  if (Item** link = FindLink()) {
    store_.Remove(stripe_, *link, op, now_);
  }
}

void Store::Slot::SetExptime(uint32_t exptime) {
  Item** link = FindLink();
  TRELLIS_CHECK(link != nullptr);
  Item* item = *link;
  item->exptime = exptime;
  store_.Emit(
      {0, MutationOp::kTouch, item->key(), {}, item->client_flags, exptime, item->cas, now_});
}

void Store::Remove(Stripe& stripe, Item* item, MutationOp op, uint32_t now) {
  for (Item** link = stripe.Bucket(HashKey(item->key())); *link != nullptr;
       link = &(*link)->hash_next) {
    if (*link == item) {
      *link = item->hash_next;
      break;
    }
  }
  const size_t charge = ChargeOf(item);
  stripe.QueueOf(item).Unlink(item, charge);
  --stripe.count;
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
  used_bytes_.fetch_sub(charge, std::memory_order_relaxed);
  std::free(item);
}

bool Store::EvictOne(Stripe& stripe, const Item* pinned, uint32_t now) {
  if (stripe.count == 0 || (stripe.count == 1 && pinned != nullptr)) {
    return false;
  }
  for (;;) {
    bool from_small = stripe.small.oldest != nullptr &&
                      (stripe.main.oldest == nullptr ||
                       stripe.small.bytes * 10 >= stripe.small.bytes + stripe.main.bytes);
    Item* item = (from_small ? stripe.small : stripe.main).oldest;
    if (item == pinned) {
      Queue& queue = from_small ? stripe.small : stripe.main;
      if (queue.oldest != queue.newest) {
        queue.Unlink(item, ChargeOf(item));
        queue.PushNewest(item, ChargeOf(item));
        continue;
      }
      // The pinned item is alone in its queue: take from the other one.
      from_small = !from_small;
      item = (from_small ? stripe.small : stripe.main).oldest;
    }
    Queue& queue = from_small ? stripe.small : stripe.main;
    const size_t charge = ChargeOf(item);
    if (item->IsExpired(now)) {
      Remove(stripe, item, MutationOp::kExpire, now);
      return true;
    }
    if (item->freq > 0) {
      // Accessed since it entered this queue: promote to (or keep in) main.
      queue.Unlink(item, charge);
      item->freq = from_small ? 0 : item->freq - 1;
      item->in_main = true;
      stripe.main.PushNewest(item, charge);
      continue;
    }
    if (from_small) {
      stripe.RememberGhost(HashKey(item->key()));
    }
    Remove(stripe, item, MutationOp::kEvict, now);
    return true;
  }
}

bool Store::Reserve(Stripe& stripe, size_t bytes, const Item* pinned, uint32_t now) {
  used_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  while (used_bytes_.load(std::memory_order_relaxed) > options_.memory_limit) {
    bool evicted = options_.evict && EvictOne(stripe, pinned, now);
    for (size_t i = 1; options_.evict && !evicted && i < kStripes; ++i) {
      Stripe& other = *stripes_[(stripe.index + i) % kStripes];
      std::unique_lock lock(other.mu, std::try_to_lock);
      evicted = lock.owns_lock() && EvictOne(other, nullptr, now);
    }
    if (!evicted) {
      used_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
      return false;
    }
  }
  return true;
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

void Store::FlushAll(uint32_t now, int64_t delay) {
  const int64_t oldest_live = delay > 0 ? int64_t{now} + delay - 1 : int64_t{now} - 1;
  flush_oldest_live_.store(oldest_live, std::memory_order_relaxed);
  if (delay <= 0) {
    for (auto& stripe : stripes_) {
      std::lock_guard lock(stripe->mu);
      while (stripe->small.oldest != nullptr || stripe->main.oldest != nullptr) {
        Remove(*stripe, stripe->small.oldest ? stripe->small.oldest : stripe->main.oldest,
               MutationOp::kFlush, now);
      }
    }
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
    for (Item** bucket = stripe.buckets.data();
         bucket != stripe.buckets.data() + stripe.buckets.size(); ++bucket) {
      for (Item* item = *bucket; item != nullptr;) {
        Item* next = item->hash_next;
        ++visited;
        if (item->IsExpired(now)) {
          Remove(stripe, item, MutationOp::kExpire, now);
        } else if (IsFlushed(*item, now)) {
          Remove(stripe, item, MutationOp::kFlush, now);
        }
        item = next;
      }
    }
    if (cursor == kStripes - 1) {
      break;  // One full pass per call at most.
    }
  }
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

}  // namespace trellis::cache
