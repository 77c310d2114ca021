#include "cache/write_gate.h"

#include <algorithm>

namespace trellis::cache {

namespace {

int64_t Ns(WriteGate::Clock::time_point time) { return time.time_since_epoch().count(); }

// What the node counts of a lease: 7/8 of its length (slack for the clocks' drift).
WriteGate::Clock::duration Counted(std::chrono::milliseconds length) {
  return std::chrono::duration_cast<WriteGate::Clock::duration>(length) * 7 / 8;
}

}  // namespace

WriteGate::WriteGate(bool fenced, bool backup) : fenced_(fenced), backup_(backup) {}

std::string_view WriteGate::Refusal(Clock::time_point now) const {
  if (backup_.load(std::memory_order_relaxed)) {
    return "SERVER_ERROR read only: this node is a backup\r\n";
  }
  if (frozen_.load(std::memory_order_relaxed)) {
    return "SERVER_ERROR read only: this main is frozen for a switchover\r\n";
  }
  if (!fenced_) {
    return {};
  }
  if (Ns(now) < previous_until_ns_.load(std::memory_order_relaxed)) {
    return "SERVER_ERROR read only: waiting out the previous main's lease\r\n";
  }
  if (Ns(now) >= writable_until_ns_.load(std::memory_order_relaxed)) {
    return "SERVER_ERROR read only: no lease, this main lost contact with the master and its "
           "backups\r\n";
  }
  return {};
}

void WriteGate::BecomeBackup() {
  std::lock_guard lock(mu_);
  backup_ = true;
  epoch_ = 0;
  Update();
}

void WriteGate::BecomeMain(uint64_t epoch, Clock::time_point previous_main_until) {
  std::lock_guard lock(mu_);
  previous_until_ns_ = Ns(previous_main_until);
  epoch_ = epoch;
  Update();
  backup_ = false;
}

void WriteGate::SetFrozen(bool frozen) { frozen_ = frozen; }

void WriteGate::RenewByMaster(uint64_t epoch, Clock::time_point asked,
                              std::chrono::milliseconds length) {
  std::lock_guard lock(mu_);
  const Clock::time_point until = asked + Counted(length);
  if (epoch > lease_epoch_) {
    lease_epoch_ = epoch;
    lease_until_ = until;
  } else if (epoch == lease_epoch_) {
    lease_until_ = std::max(lease_until_, until);
  }
  length_ = length;
  Update();
}

void WriteGate::RenewByBackup(Clock::time_point sent) {
  if (sent > Clock::now()) {
    return;  // Not a heartbeat this node sent: its clock has not got there.
  }
  std::lock_guard lock(mu_);
  if (lease_epoch_ != 0) {  // Backups extend a lease; only the master starts one.
    lease_until_ = std::max(lease_until_, sent + Counted(length_));
    Update();
  }
}

std::chrono::milliseconds WriteGate::lease_length() const {
  std::lock_guard lock(mu_);
  return length_;
}

void WriteGate::Update() {
  writable_until_ns_ = epoch_ != 0 && epoch_ == lease_epoch_ ? Ns(lease_until_) : 0;
}

}  // namespace trellis::cache
