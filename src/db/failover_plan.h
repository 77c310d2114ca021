// PlanCluster: what CDB's manager (db_manager.h) does next to its MariaDB servers, from
// what its last probe of each saw; a pure function, so that every rule below is tested
// on its own (tests/db/failover_plan_test.cc).
//
// The rules:
//   - A primary that answers and takes writes stays. Every other server that answers is
//     made to follow it (read-only, replicating from it by GTID) unless it already does;
//     one whose replication from it stopped on an error is left as it is, for the status
//     to show (it needs an operator: it holds transactions the primary lacks, or the
//     primary's binary log no longer has what it needs), and so is one with a thread
//     stopped on purpose (STOP SLAVE SQL_THREAD holds back applying, say): only a
//     replica with both threads stopped and no error (as a restart leaves it) is started.
//   - A primary that has not served for the failover delay (it does not answer, or it
//     came back fenced: every server starts read-only) is replaced by the most advanced
//     server that answers, by the transactions it has received; among equals, not the
//     lost primary (its restart after a crash may still be settling) and then the first
//     in the file. The others follow the new primary, and so does the old one when it
//     returns.
//   - A failover that could lose acknowledged writes is refused, with the reason: when
//     the lost primary was not semi-synchronous at its last probe (no replica had to
//     acknowledge its commits) and no server has everything it had then.
//   - At the first start, the primary is chosen once every server answers, or after the
//     failover delay from among those that do.
//
// Thread safety: pure functions and plain values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "proto/mysql/gtid.h"

namespace trellis::db {

// What one probe saw of a server.
struct InstanceView {
  bool answers = false;  // It accepted the manager's login and answered its queries.
  bool read_only = true;
  // What it has: its own transactions and those received from a primary, applied or not.
  proto::mysql::GtidPosition position;
  proto::mysql::GtidPosition applied;   // What it has applied (@@gtid_current_pos).
  std::optional<uint64_t> lag_seconds;  // Seconds_Behind_Master; none when not applying.
  std::string source;                   // HOST:PORT it replicates from; "" when none is set.
  bool fetching = false;  // Its IO thread runs (or reconnects): it receives from its source.
  bool applying = false;  // Its SQL thread runs: it applies what it received.
  std::string replication_error;  // Why they stopped, when they stopped on an error.
  bool semi_sync = false;         // As a primary: commits wait for a replica's ack.
};

struct ClusterView {
  std::vector<std::string> addresses;   // HOST:PORT of each server, in the file's order.
  std::vector<InstanceView> instances;  // The same order.
  std::optional<size_t> primary;        // The one chosen last; none before the first.
  // The primary has not served for the failover delay (before the first choice: the
  // delay since the manager started has passed).
  bool primary_lost = false;
  // The primary's position and semi-synchronous state at the last probe that found it
  // serving.
  proto::mysql::GtidPosition primary_last_position;
  bool primary_last_semi_sync = false;
};

enum class ActionKind {
  kPromote,  // Apply what it received, stop replicating, take writes.
  kFollow,   // Read-only, replicating from the primary by GTID.
};

struct Action {
  ActionKind kind;
  size_t instance;

  friend bool operator==(const Action&, const Action&) = default;
};

struct ClusterPlan {
  std::optional<size_t> primary;  // The primary once `actions` are done.
  std::vector<Action> actions;    // In order: a promotion first.
  std::string refusal;  // Why a failover that is due is not done; "" when none is refused.
};

ClusterPlan PlanCluster(const ClusterView& view);

}  // namespace trellis::db
