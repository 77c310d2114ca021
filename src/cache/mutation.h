// Mutation records: every successful change to a Store, in order, for the replication
// consumers of the cluster (main -> backup streaming, the backup center's archive).
//
// The record format is the contract between a cache node and its consumers: `kStore`
// carries the whole resulting item (whatever command produced it: set, add, append,
// incr, ...), so a consumer applies it without re-executing commands; the other kinds
// carry what changed. Sequence numbers are unique and increase in the order the changes
// took effect; changes to one key arrive in their sequence order.
//
// Thread safety: a listener is called from any worker thread, under the lock of the
// stripe that changed, so it must be fast and internally synchronised (append to a queue).
#pragma once

#include <cstdint>
#include <string_view>

namespace trellis::cache {

enum class MutationOp : uint8_t {
  kStore,   // The item now has this value, flags, exptime and cas.
  kDelete,  // A client deleted the key.
  kTouch,   // Only the expiry time changed (touch, gat, meta T).
  kExpire,  // The key expired and was removed.
  kEvict,   // The key was evicted to make room.
  kFlush,   // flush_all: every item stored at or before `exptime` (unix s) is invalid.
  // Slot moves (docs/scale-out.md): not client writes, so that a consumer of the log can
  // tell them apart.
  kMoveIn,   // As kStore: the item arrived from the group its slot moves away from.
  kMoveOut,  // As kDelete: the item left for the group its slot moves to.
};

struct MutationRecord {
  uint64_t sequence;
  MutationOp op;
  std::string_view key;    // Empty for kFlush.
  std::string_view value;  // kStore only.
  uint32_t client_flags;
  uint32_t exptime;  // Unix seconds, 0 = never.
  uint64_t cas;
  uint32_t timestamp;  // Unix seconds when the change happened.
};

class MutationListener {
 public:
  virtual ~MutationListener() = default;
  virtual void OnMutation(const MutationRecord& record) = 0;
};

}  // namespace trellis::cache
