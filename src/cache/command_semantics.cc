#include "cache/command_semantics.h"

#include <algorithm>
#include <cstring>

#include "cache/reply.h"
#include "proto/memcache/number.h"

namespace trellis::cache {
namespace {

// memcached's REALTIME_MAXDELTA: larger exptimes are absolute unix times.
constexpr int64_t kMaxRelativeExptime = 60 * 60 * 24 * 30;

}  // namespace

Outcome StoreItem(Store::Slot& slot, const StoreArgs& args, uint64_t* cas) {
  Item* old = slot.Find();
  const bool concatenate = args.mode == StoreMode::kAppend || args.mode == StoreMode::kPrepend;
  switch (args.mode) {
    case StoreMode::kCas:
      if (old == nullptr) {
        return Outcome::kNotFound;
      }
      if (old->cas != args.compare_cas && !(args.set_stale && args.compare_cas < old->cas)) {
        return Outcome::kExists;
      }
      break;
    case StoreMode::kAdd:
      if (old != nullptr) {
        slot.Bump(old);
        return Outcome::kNotStored;
      }
      break;
    case StoreMode::kReplace:
    case StoreMode::kAppend:
    case StoreMode::kPrepend:
      if (old == nullptr) {
        return Outcome::kNotStored;
      }
      if (concatenate && args.compare_cas != 0 && old->cas != args.compare_cas) {
        return Outcome::kExists;
      }
      break;
    case StoreMode::kMoveIn:
      // Only into a slot moving here: a move that comes after the slot's move ended (the
      // mover read the key before a client deleted it, and the tombstones are gone now)
      // must not bring it back.
      if (old != nullptr || !slot.incoming() || slot.tombstoned()) {
        return Outcome::kNotStored;
      }
      break;
    case StoreMode::kSet:
      break;
  }
  // A CAS store past the checks over another version is a stale store (args.set_stale).
  const bool stale = args.mode == StoreMode::kCas && old->cas != args.compare_cas;
  const size_t length = args.value.size() + (concatenate ? old->value_length : 0);
  Item* item = slot.Allocate(static_cast<uint32_t>(length),
                             concatenate ? old->client_flags : args.client_flags,
                             concatenate || stale ? old->exptime : args.exptime);
  if (item == nullptr) {
    return Outcome::kNoMemory;
  }
  if (stale) {
    item->stale = 1;
    item->token_sent = old->token_sent;
  }
  char* value = item->mutable_value();
  if (args.mode == StoreMode::kAppend) {
    std::memcpy(value, old->value().data(), old->value_length);
    std::memcpy(value + old->value_length, args.value.data(), args.value.size());
  } else if (args.mode == StoreMode::kPrepend) {
    std::memcpy(value, args.value.data(), args.value.size());
    std::memcpy(value + args.value.size(), old->value().data(), old->value_length);
  } else {
    std::memcpy(value, args.value.data(), args.value.size());
  }
  if (args.mode == StoreMode::kMoveIn) {
    slot.CommitMovedIn(item, args.new_cas);
  } else {
    slot.Commit(item, args.new_cas);
  }
  *cas = item->cas;
  return Outcome::kStored;
}

DeltaOutcome AddDelta(Store::Slot& slot, bool incr, uint64_t delta, uint64_t compare_cas,
                      uint64_t new_cas, std::string* result, Item** stored) {
  Item* old = slot.Find();
  if (old == nullptr) {
    return DeltaOutcome::kNotFound;
  }
  // memcached refuses an empty value before it looks at the CAS.
  if (old->value_length == 0) {
    return DeltaOutcome::kNonNumeric;
  }
  if (compare_cas != 0 && old->cas != compare_cas) {
    return DeltaOutcome::kCasMismatch;
  }
  uint64_t value = 0;
  if (!proto::memcache::SafeStrtoull(old->value(), &value)) {
    return DeltaOutcome::kNonNumeric;
  }
  value = incr ? value + delta : (delta > value ? 0 : value - delta);
  result->clear();
  AppendNumber(result, value);
  // A number that fits replaces the old value in place, space-padded to its length; a
  // longer one gets an item of its own length.
  const size_t length = std::max<size_t>(result->size(), old->value_length);
  Item* item = slot.Allocate(static_cast<uint32_t>(length), old->client_flags, old->exptime);
  if (item == nullptr) {
    return DeltaOutcome::kNoMemory;
  }
  std::memcpy(item->mutable_value(), result->data(), result->size());
  std::memset(item->mutable_value() + result->size(), ' ', length - result->size());
  slot.Commit(item, new_cas);
  *stored = item;
  return DeltaOutcome::kOk;
}

uint32_t ExpiryTime(int64_t exptime, uint32_t now) {
  if (exptime == 0) {
    return 0;
  }
  if (exptime < 0) {
    return 1;  // Long past: expired at once.
  }
  if (exptime > kMaxRelativeExptime) {
    return exptime <= now ? 1 : static_cast<uint32_t>(exptime);
  }
  return now + static_cast<uint32_t>(exptime);
}

}  // namespace trellis::cache
