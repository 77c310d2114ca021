// ReplicationLog: a main's ordered log of its recent mutations, for its backups. It is
// the Store's mutation listener: every change is framed (cache/replication_wire.h) and
// appended under one lock, which gives the stream its order; a record's sequence is its
// place in this log. The log keeps the newest `capacity` bytes; a backup that falls
// further behind (or is new, or knew another log) gets a snapshot and then the tail.
//
// It also counts what backups acknowledged, for sync replication: a client's write is
// answered only when a backup has it (see cache_node.cc).
//
// A backup's log mirrors its main's (Follow): the main's records with the main's log id
// and sequences. Promoted, it leads a log of its own that continues the followed one, so
// the old main's other consumers (backups, the backup center's archive) continue from
// where they were instead of starting over from a snapshot; a consumer whose position
// is past what this node had (writes of the old main it never received) gets a snapshot.
// This is Redis's PSYNC2 (its "replid2" and "second_replid_offset"): one previous log is
// remembered.
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

  // Numbers and keeps the store's mutation while this log leads; ignored otherwise.
  void OnMutation(const MutationRecord& record) override;

  // This node's own mutations are logged from now on (its store must report them to
  // this log): a new log id, which continues the log followed until now, if any.
  // Nothing if it leads already.
  void Lead();
  // This node is a backup: its own mutations are no longer logged; AppendFollowed logs
  // what the main sends.
  void Follow();
  // Following: the main's snapshot of log `log_id` up to `sequence` was applied (0, 0:
  // one has begun); the log starts over from there, empty.
  void FollowFrom(uint64_t log_id, uint64_t sequence);
  // Following: the main's log continues as `log_id` (the main's own log continued the
  // one this node followed).
  void ContinueAs(uint64_t log_id);
  // Following: one record of the main's stream. False if this log does not follow (it
  // was promoted meanwhile) or `record` is not the next sequence: the stream must stop.
  bool AppendFollowed(const MutationRecord& record);

  // Identifies this log (0: none yet): a restarted main has a new one, so a backup cannot
  // mistake its sequence numbers for the old ones.
  uint64_t log_id() const;
  uint64_t last_sequence() const;
  // Whether a consumer that has log `log_id` up to `after` can continue from this log:
  // the log id its stream continues under (this log's, when `log_id` is the one this log
  // continued and `after` is no further than where it continued it), or 0 (a snapshot).
  // Its records after `after` may already be dropped: CopyAfter says.
  uint64_t ContinuationOf(uint64_t log_id, uint64_t after) const;
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
  enum class Mode { kIdle, kLeading, kFollowing };

  // Runs and drops the waiters whose sequence is below `reached`. REQUIRES: mu_ held.
  static void Release(std::vector<Waiter>* waiters, uint64_t reached, bool inclusive);
  // Keeps `record`, numbered already. REQUIRES: mu_ held.
  void Append(const MutationRecord& record);

  const size_t capacity_;
  mutable std::mutex mu_;
  Mode mode_ = Mode::kIdle;  // Guarded by mu_, as are the fields below.
  uint64_t log_id_ = 0;      // 0 while idle, or following before a snapshot completed.
  // The log this one continues, and the last sequence they share (0, 0: none).
  uint64_t previous_log_id_ = 0;
  uint64_t previous_last_ = 0;
  std::deque<Entry> entries_;  // Guarded by mu_; sequences are consecutive.
  size_t bytes_ = 0;
  uint64_t last_sequence_ = 0;
  uint64_t acknowledged_ = 0;
  std::vector<Waiter> data_waiters_;
  std::vector<Waiter> ack_waiters_;
};

}  // namespace trellis::cache
