// SlotMover: the source side of a slot move (docs/scale-out.md, step 3 "Copy"). On the
// main of a group whose slots are in the dual step towards other groups, it walks each
// such slot's keys (Store::ForEachItemOfSlot, so a slot costs what it holds), stores them
// on the target group's main as move-ins (`ms KEY LEN X F.. T.. E..`: nothing there is
// overwritten and a tombstone blocks it), and once the target answered, stored or not,
// deletes each here if it is still the same version (its CAS), logged as a move
// (MutationOp::kMoveOut). The master flips a slot to its target once `stats slots` shows
// the slot empty here.
//
// Throttled to `rate` keys a second; a batch is at most kBatchKeys keys and about
// kBatchBytes of values, so a large value never holds up a stripe or the target for long.
// (256 keys: 64 cost the cluster 40% more CPU per key moved, each batch being a timer,
// a write and a read on both sides; a batch of 256 small items takes the target ~1 ms.)
// A failed or refused batch (the target's main down, or refusing writes during its
// failover) is retried after a pause, on a new connection: the move pauses and goes on.
// Items of an expired or flushed version are left to the sweeper.
//
// Thread safety: runs on one executor; Update and the counters' readers from anywhere
// (Update posts to that executor).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "base/metrics.h"
#include "cache/store.h"
#include "net/tls_context.h"

namespace trellis::cache {

// One slot to move away, and the HOST:PORT of the main of the group it moves to.
struct SlotMoveTask {
  uint32_t slot = 0;
  std::string target;

  bool operator==(const SlotMoveTask& other) const = default;
};

class SlotMover {
 public:
  static constexpr size_t kBatchKeys = 256;
  static constexpr size_t kBatchBytes = 1 << 20;

  // Metrics (in `metrics`): trellis_cache_moved_keys_total, trellis_cache_moved_bytes_total.
  // `may_move`: whether this node takes writes now (a main holding its lease); the mover
  // waits while it does not. `tls`: the cluster's client TLS to reach other nodes with
  // (mutual TLS), null for plaintext.
  SlotMover(Store& store, boost::asio::any_io_executor executor, base::Registry& metrics,
            std::function<bool()> may_move, std::shared_ptr<net::TlsClientContext> tls);
  ~SlotMover();

  // What to move now (empty: nothing, e.g. the node is no main) at most `rate` keys a
  // second.
  void Update(std::vector<SlotMoveTask> tasks, uint64_t rate);

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace trellis::cache
