// Item: one cached key and value with its memcached metadata, laid out in a single
// allocation (header, then key bytes, then value bytes) so that a hit costs one cache
// miss and an item's memory is one malloc chunk the store can account exactly.
//
// Thread safety: an Item belongs to one stripe of the Store and is touched only under
// that stripe's lock.
#pragma once

#include <cstdint>
#include <string_view>

namespace trellis::cache {

struct Item {
  Item* hash_next;  // Next item in the same hash bucket.
  Item* newer;      // Eviction queue links; the queue is the one `in_main` names.
  Item* older;
  uint64_t cas;
  uint32_t exptime;  // Unix seconds; 0 = never expires.
  uint32_t time;     // Unix seconds of the last store or fetch.
  uint32_t client_flags;
  uint32_t value_length;
  uint8_t key_length;
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

}  // namespace trellis::cache
