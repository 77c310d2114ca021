#include "cache/replication_log.h"

#include <algorithm>
#include <random>

#include "cache/replication_wire.h"

namespace trellis::cache {

namespace {

thread_local uint64_t last_sequence_of_thread = 0;

uint64_t RandomLogId() {
  std::random_device device;
  return (uint64_t{device()} << 32 | device()) | 1;
}

}  // namespace

ReplicationLog::ReplicationLog(size_t capacity_bytes) : capacity_(capacity_bytes) {}

void ReplicationLog::OnMutation(const MutationRecord& record) {
  std::lock_guard lock(mu_);
  if (mode_ != Mode::kLeading) {
    return;
  }
  MutationRecord numbered = record;
  numbered.sequence = ++last_sequence_;
  last_sequence_of_thread = numbered.sequence;
  Append(numbered);
}

void ReplicationLog::Append(const MutationRecord& record) {
  Entry entry{record.sequence, {}};
  // One allocation a frame: grown as it was written, it took a sixth of a source node's
  // mover thread while slots moved (every delete of a moved key is logged).
  entry.frame.reserve(RecordFrameSize(record));
  AppendRecordFrame(record, &entry.frame);
  bytes_ += entry.frame.size();
  entries_.push_back(std::move(entry));
  while (bytes_ > capacity_ && entries_.size() > 1) {
    bytes_ -= entries_.front().frame.size();
    entries_.pop_front();
  }
  Release(&data_waiters_, last_sequence_, /*inclusive=*/false);
}

void ReplicationLog::Lead() {
  std::lock_guard lock(mu_);
  if (mode_ == Mode::kLeading) {
    return;
  }
  if (log_id_ != 0) {
    previous_log_id_ = log_id_;
    previous_last_ = last_sequence_;
  }
  log_id_ = RandomLogId();
  mode_ = Mode::kLeading;
}

void ReplicationLog::Follow() {
  std::lock_guard lock(mu_);
  mode_ = Mode::kFollowing;
}

void ReplicationLog::FollowFrom(uint64_t log_id, uint64_t sequence) {
  std::lock_guard lock(mu_);
  if (mode_ != Mode::kFollowing) {
    return;
  }
  log_id_ = log_id;
  last_sequence_ = sequence;
  previous_log_id_ = previous_last_ = 0;
  entries_.clear();
  bytes_ = 0;
  acknowledged_ = std::min(acknowledged_, sequence);
}

void ReplicationLog::ContinueAs(uint64_t log_id) {
  std::lock_guard lock(mu_);
  if (mode_ != Mode::kFollowing || log_id == log_id_) {
    return;
  }
  previous_log_id_ = log_id_;
  previous_last_ = last_sequence_;
  log_id_ = log_id;
}

bool ReplicationLog::AppendFollowed(const MutationRecord& record) {
  std::lock_guard lock(mu_);
  if (mode_ != Mode::kFollowing || log_id_ == 0 || record.sequence != last_sequence_ + 1) {
    return false;
  }
  last_sequence_ = record.sequence;
  Append(record);
  return true;
}

uint64_t ReplicationLog::log_id() const {
  std::lock_guard lock(mu_);
  return log_id_;
}

uint64_t ReplicationLog::ContinuationOf(uint64_t log_id, uint64_t after) const {
  std::lock_guard lock(mu_);
  if (log_id == 0) {
    return 0;
  }
  if (log_id == log_id_) {
    return log_id_;
  }
  return log_id == previous_log_id_ && after <= previous_last_ ? log_id_ : 0;
}

uint64_t ReplicationLog::LastSequenceOfThisThread() { return last_sequence_of_thread; }

uint64_t ReplicationLog::last_sequence() const {
  std::lock_guard lock(mu_);
  return last_sequence_;
}

bool ReplicationLog::CopyAfter(uint64_t* after, size_t max_bytes, std::string* out) const {
  std::lock_guard lock(mu_);
  if (*after >= last_sequence_) {
    return *after == last_sequence_;
  }
  if (entries_.empty() || entries_.front().sequence > *after + 1) {
    return false;
  }
  for (size_t i = *after + 1 - entries_.front().sequence;
       i < entries_.size() && out->size() < max_bytes; ++i) {
    out->append(entries_[i].frame);
    *after = entries_[i].sequence;
  }
  return true;
}

void ReplicationLog::NotifyAfter(uint64_t after, std::function<void()> wake) {
  std::unique_lock lock(mu_);
  if (last_sequence_ > after) {
    lock.unlock();
    wake();
    return;
  }
  data_waiters_.push_back({after, std::move(wake)});
}

void ReplicationLog::Acknowledge(uint64_t sequence) {
  std::lock_guard lock(mu_);
  if (sequence > acknowledged_ && sequence <= last_sequence_) {
    acknowledged_ = sequence;
    Release(&ack_waiters_, acknowledged_, /*inclusive=*/true);
  }
}

uint64_t ReplicationLog::acknowledged() const {
  std::lock_guard lock(mu_);
  return acknowledged_;
}

void ReplicationLog::NotifyAcknowledged(uint64_t sequence, std::function<void()> wake) {
  std::unique_lock lock(mu_);
  if (acknowledged_ >= sequence) {
    lock.unlock();
    wake();
    return;
  }
  ack_waiters_.push_back({sequence, std::move(wake)});
}

void ReplicationLog::Release(std::vector<Waiter>* waiters, uint64_t reached, bool inclusive) {
  for (size_t i = 0; i < waiters->size();) {
    Waiter& waiter = (*waiters)[i];
    if (inclusive ? waiter.sequence <= reached : waiter.sequence < reached) {
      waiter.wake();
      waiter = std::move(waiters->back());
      waiters->pop_back();
    } else {
      ++i;
    }
  }
}

}  // namespace trellis::cache
