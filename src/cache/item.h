// Item: one cached key and value with its memcached metadata, laid out in one slot of
// the item arena (header, then key bytes, then value bytes) so that a hit costs one cache
// miss. Items refer to each other by 32-bit ItemRefs, not pointers, which keeps the
// header at 40 bytes (see item_arena.h for what a reference encodes).
//
// Thread safety: the hash link and the metadata belong to the Store stripe of the key
// and are touched under that stripe's lock; the queue links and `state` belong to the
// item's size class and are touched under that class's lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace trellis::cache {

// A reference to an item in the ItemArena; kNoItem is none.
using ItemRef = uint32_t;
inline constexpr ItemRef kNoItem = 0;

enum class ItemState : uint8_t {
  kFree = 0,   // An empty slot (zero, as a fresh page reads).
  kAllocated,  // Handed out by Allocate, not yet committed or discarded.
  kLinked,     // In its stripe's hash table and its class's eviction queue.
};

struct Item {
  uint64_t cas;
  ItemRef hash_next;  // Next item in the same hash bucket; next free slot when free.
  ItemRef newer;      // Eviction queue links; the queue is the one `in_main` names.
  ItemRef older;
  uint32_t exptime;  // Unix seconds; 0 = never expires.
  uint32_t time;     // Unix seconds of the last store or fetch.
  uint32_t client_flags;
  uint32_t value_length;
  uint8_t key_length;
  ItemState state;
  // The tenant quota it counts against (Store::SetTenantQuotas), 0 for none: set when
  // allocated, fixed from then on.
  uint8_t partition;
  uint8_t freq : 2;        // Accesses since it entered its queue, saturating (S3-FIFO).
  uint8_t in_main : 1;     // In the main queue (else the small queue).
  uint8_t fetched : 1;     // Fetched at least once since stored (meta h flag).
  uint8_t stale : 1;       // Invalidated by a meta I flag (served with X).
  uint8_t token_sent : 1;  // A recache win token (W) went out for this version.
  uint8_t key_binary : 1;  // The key came base64-encoded (meta b flag).
  char data[];             // key_length bytes of key, then value_length bytes of value.

  std::string_view key() const { return {data, key_length}; }
  std::string_view value() const { return {data + key_length, value_length}; }
  char* mutable_value() { return data + key_length; }
  bool IsExpired(uint32_t now) const { return exptime != 0 && exptime <= now; }
};

// Bytes an item with this key and value occupies before rounding to its slot size.
inline constexpr size_t ItemSize(size_t key_length, size_t value_length) {
  return offsetof(Item, data) + key_length + value_length;
}

}  // namespace trellis::cache
