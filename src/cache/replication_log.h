// ReplicationLog: a main's ordered log of its recent mutations, for its backups. It is
// the Store's mutation listener: every change is framed (cache/replication_wire.h) and
// appended under one lock, which gives the stream its order; a record's sequence is its
// place in this log. The log keeps the newest `capacity` bytes; a backup that falls
// further behind (or is new, or knew another log) gets a snapshot and then the tail.
//
// It also counts what backups acknowledged, for sync replication: a client's write is
// answered only when a backup has it (see cache_node.cc).
//
// Thread safety: internally synchronised; OnMutation runs on worker threads under a
// stripe lock, so it only appends and posts wake-ups.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "cache/mutation.h"

namespace trellis::cache {

class ReplicationLog : public MutationListener {
 public:
  explicit ReplicationLog(size_t capacity_bytes);

  void OnMutation(const MutationRecord& record) override;

  // Identifies this log: a restarted main has a new one, so a backup cannot mistake
  // its sequence numbers for the old ones.
  uint64_t log_id() const { return log_id_; }
  uint64_t last_sequence() const;
  // The sequence of the last record this thread appended (0: none): what a connection
  // waits for in sync mode after a batch.
  static uint64_t LastSequenceOfThisThread();

  // Appends the frames of records after `after` (up to about `max_bytes`) to `out` and
  // moves `after` to the last one. False if records after `after` were already dropped.
  bool CopyAfter(uint64_t* after, size_t max_bytes, std::string* out) const;
  // Calls `wake` (once, from any thread) when a record after `after` exists.
  void NotifyAfter(uint64_t after, std::function<void()> wake);

  // A backup has applied everything up to `sequence`.
  void Acknowledge(uint64_t sequence);
  uint64_t acknowledged() const;
  // Calls `wake` (once, from any thread) when a backup acknowledged `sequence`.
  void NotifyAcknowledged(uint64_t sequence, std::function<void()> wake);

 private:
  struct Waiter {
    uint64_t sequence;
    std::function<void()> wake;
  };
  struct Entry {
    uint64_t sequence;
    std::string frame;
  };
  // Runs and drops the waiters whose sequence is below `reached`. REQUIRES: mu_ held.
  static void Release(std::vector<Waiter>* waiters, uint64_t reached, bool inclusive);

  const size_t capacity_;
  const uint64_t log_id_;
  mutable std::mutex mu_;
  std::deque<Entry> entries_;  // Guarded by mu_; sequences are consecutive.
  size_t bytes_ = 0;
  uint64_t last_sequence_ = 0;
  uint64_t acknowledged_ = 0;
  std::vector<Waiter> data_waiters_;
  std::vector<Waiter> ack_waiters_;
};

}  // namespace trellis::cache
