// Command semantics: what memcached's do_store_item() and do_add_delta() do to one locked
// key, and its realtime() for expiry times. Shared by the text and the meta commands,
// which differ in their syntax and replies but not in what a store or an incr means.
//
// Thread safety: the caller holds the key's Store::Slot.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cache/store.h"

namespace trellis::cache {

// kMoveIn: a slot move's store (meta X): an add, into a slot moving to this node's group
// only, that a tombstone also refuses.
enum class StoreMode { kSet, kAdd, kReplace, kAppend, kPrepend, kCas, kMoveIn };
enum class Outcome { kStored, kNotStored, kExists, kNotFound, kNoMemory };

struct StoreArgs {
  StoreMode mode;
  uint32_t client_flags;
  uint32_t exptime;
  std::string_view value;
  uint64_t compare_cas = 0;  // cas / meta C: store only over this version.
  uint64_t new_cas = 0;      // meta E: the CAS the new version gets.
  // meta I with C, in kCas mode: a compare_cas lower than the item's still stores, as a
  // stale value that keeps the old item's expiry time and win token (memcached's
  // set_stale), so that a late writer's value is served, marked stale, until refreshed.
  bool set_stale = false;
};

// memcached's do_store_item() over one locked key. Sets *cas to the stored version's CAS.
Outcome StoreItem(Store::Slot& slot, const StoreArgs& args, uint64_t* cas);

enum class DeltaOutcome { kOk, kNonNumeric, kNotFound, kCasMismatch, kNoMemory };

// memcached's do_add_delta(): the value is read by safe_strtoull (number.h: leading
// whitespace and a sign are fine, and so is anything after the first whitespace), incr
// wraps at 2^64, decr stops at 0, and a result shorter than the old value is space-padded
// to the old length. *result gets the number and *stored the new item.
DeltaOutcome AddDelta(Store::Slot& slot, bool incr, uint64_t delta, uint64_t compare_cas,
                      uint64_t new_cas, std::string* result, Item** stored);

// memcached's realtime(): exptime as sent (0, relative seconds up to 30 days, absolute
// unix time, or negative) to an absolute unix time (0 = never; already past = expired).
uint32_t ExpiryTime(int64_t exptime, uint32_t now);

}  // namespace trellis::cache
