// WriteGate: whether a cache node takes client writes now, and if not, the reply that
// says why. A backup refuses them, and so does a main the master froze for a
// switchover. A node that follows a master is also fenced (docs/cache.md, "Fencing"): as
// a main it takes writes only while it holds a lease, so that a main cut off from the
// master stops taking writes before the master makes another node main in its place.
//
// A lease is granted by the master (each time the node asks for the cluster map and the
// map names it main at its epoch) and extended by its backups (each time one acknowledges
// a heartbeat of the replication stream), so a main keeps its lease while the master is
// away as long as a backup follows it. A lease runs from when the node *asked* (sent the
// request or the heartbeat), for 7/8 of the master's lease length: a node paused after
// asking cannot stretch it, and the rest is slack for the clocks' drift. The master waits
// the whole length after its last grant before promoting a backup (master_node.h), and a
// promoted backup waits out whatever its own acknowledgements granted the old main.
//
// Thread safety: all methods are thread-safe; Refusal is two atomic loads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string_view>

namespace trellis::cache {

class WriteGate {
 public:
  using Clock = std::chrono::steady_clock;

  // `fenced`: the node follows a master (leases apply). A node starts as a backup when
  // `backup` (it follows a main, or waits for the master to give it a role).
  WriteGate(bool fenced, bool backup);

  // A whole "SERVER_ERROR ...\r\n" line, or empty when writes are taken at `now`.
  std::string_view Refusal(Clock::time_point now) const;

  void BecomeBackup();
  // The main at `epoch`; takes no write before `previous_main_until`, until which the main
  // it replaces may still hold a lease its backups granted.
  void BecomeMain(uint64_t epoch, Clock::time_point previous_main_until);
  void SetFrozen(bool frozen);

  // The master, asked at `asked`, named this node the main at `epoch`, with leases of
  // `length`. A grant for a later epoch than this node knows waits for it to learn it.
  void RenewByMaster(uint64_t epoch, Clock::time_point asked, std::chrono::milliseconds length);
  // A backup acknowledged the heartbeat this node sent at `sent` (a time still to come
  // cannot be one, and is ignored).
  void RenewByBackup(Clock::time_point sent);

  // The master's lease length (zero until the first grant): heartbeats carry it.
  std::chrono::milliseconds lease_length() const;
  bool backup() const { return backup_.load(); }
  bool frozen() const { return frozen_.load(); }

 private:
  // Recomputes writable_until_ns_. REQUIRES: mu_ held.
  void Update();

  const bool fenced_;
  std::atomic<bool> backup_;
  std::atomic<bool> frozen_{false};
  std::atomic<int64_t> writable_until_ns_{0};  // The lease, for the epoch this node is main in.
  std::atomic<int64_t> previous_until_ns_{0};
  mutable std::mutex mu_;
  uint64_t epoch_ = 0;                   // Guarded by mu_: the epoch this node is main in.
  uint64_t lease_epoch_ = 0;             // Guarded by mu_: the epoch of the last master grant.
  Clock::time_point lease_until_{};      // Guarded by mu_.
  std::chrono::milliseconds length_{0};  // Guarded by mu_.
};

}  // namespace trellis::cache
