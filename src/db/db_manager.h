// DbManager: `trellis db run` (docs/db.md, "trellis db"), CDB's manager of MariaDB
// servers. It runs each server of its file as a supervised child (instance_setup.h:
// every one starts read-only), probes each every probe interval over the MySQL protocol
// as its own account, and acts on what PlanCluster (failover_plan.h) makes of the
// probes: it promotes one server to primary (it applies what it received, stops
// replicating, takes writes, and the file's users are made there), makes the others
// replicate from it by GTID, semi-synchronously, and replaces a primary that stopped
// serving for the failover delay with the most advanced server, the old one following
// the new one when it returns.
//
// It publishes which server takes writes on its admin endpoint, for `trellis dbproxy`:
//   GET /v1/db/topology     DbTopology (topology.h)
//   GET /v1/db/backups      {"backups": [BackupRecord, ...]} (backup_catalog.h)
//   POST /v1/db/backups     BackupRequest: a backup of the primary now; answers once it
//                           is taken, with its BackupRecord
//   POST /v1/db/switchover  SwitchoverRequest: makes the named server the primary, with
//                           no acknowledged write lost (Switchover); 202 once asked, the
//                           topology says when done, the status why not
//                           (db.switchover_refusal, until the next one)
// and in /v1/status, "db": the epoch, the primary, the refusal if a failover is refused,
// and every server with its role, position, replication state and process.
//
// It backs the primary up (backup_scheduler.h) and archives its binary log
// (binlog_archiver.h) into the [backup] directory, for `trellis db restore`.
//
// Metrics: trellis_db_failovers_total, trellis_db_primary_changes_total,
// trellis_db_refusals_total (plans that refused a due failover), trellis_db_servers_up.
//
// Thread safety: Start and Drain from the daemon's main thread; the probes and actions
// run on the manager's own thread; Api() and ReportStatus() read what it publishes,
// under a mutex, from the admin endpoint's thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "admin/admin_server.h"
#include "base/metrics.h"
#include "base/result.h"
#include "daemon/service.h"
#include "daemon/supervisor.h"
#include "db/backup_scheduler.h"
#include "db/binlog_archiver.h"
#include "db/cluster_config.h"
#include "db/failover_plan.h"
#include "db/instance_setup.h"
#include "db/sql_client.h"
#include "db/topology.h"

namespace trellis::db {

struct DbManagerOptions {
  DbClusterConfig config;
  std::filesystem::path data;  // Each server's data, logs, the manager's password.
  std::chrono::milliseconds probe_interval{250};
  // How long a primary may not serve before it is replaced; at the first start, how
  // long the first choice waits for every server to answer.
  std::chrono::milliseconds failover_after{2000};
  // How long the servers may take to listen at start (the first start installs them).
  std::chrono::milliseconds start_patience{120000};
};

// Makes every server's data directory and init file (`trellis db init`, and the start
// of `trellis db run`); returns the manager's password. `plans`: from InstancePlans.
base::Result<std::string> PrepareInstances(const std::vector<InstancePlan>& plans,
                                           const std::filesystem::path& data);
// The servers of `options`, in the file's order (server ids 1, 2, ...).
base::Result<std::vector<InstancePlan>> InstancePlans(const DbManagerOptions& options);

class DbManager : public daemon::Service {
 public:
  // Prepares and starts every server, and the manager's thread. Errors: an address that
  // does not resolve, an install that fails, a server that does not listen in time.
  static base::Result<std::unique_ptr<DbManager>> Start(DbManagerOptions options,
                                                        base::Registry& metrics);
  ~DbManager() override;

  // The manager's API on the daemon's admin endpoint (GET /v1/db/topology).
  admin::ApiHandler Api();
  DbTopology topology() const;
  // A switchover to the server the body names, for the manager's thread to make.
  // Errors: a body that is not a SwitchoverRequest, an unknown server, the primary.
  base::Status AskSwitchover(const nlohmann::json& body);

  std::vector<daemon::Listener> listeners() const override;
  void ReportStatus(nlohmann::json& status) const override;
  // Stops the probes, then the servers (each given `timeout` to shut down).
  void Drain(std::chrono::milliseconds timeout) override;

 private:
  DbManager(DbManagerOptions options, std::vector<InstancePlan> plans, std::string password,
            base::Registry& metrics);
  // GET and POST /v1/db/backups.
  boost::asio::awaitable<admin::ApiResponse> BackupsApi(const admin::ApiRequest& request);
  void Run();
  // One probe of server `i` over its kept connection (made again when it broke).
  InstanceView Probe(size_t i);
  base::Status Act(const Action& action, size_t primary);
  // Makes server `i` take writes, the archive's era of it begun first.
  base::Status Promote(size_t i);
  // Archives the binary log of the primary, if that is not done already.
  void Archive();
  base::Status Follow(size_t i, size_t primary);
  // The primary `from` made read-only, `to` waits until it has applied all `from` wrote
  // (MASTER_GTID_WAIT), is promoted, and `from` follows it. On failure `from` takes
  // writes again.
  base::Status Switchover(size_t from, size_t to);
  // Makes the file's users on the primary (they replicate to the others), or updates
  // their passwords; they may use every schema.
  base::Status MakeUsers(size_t primary);
  // A connection for an action, whose statements may take up to `timeout` each.
  base::Result<SqlClient> ConnectFor(size_t i, std::chrono::milliseconds timeout) const;
  // Publishes the plan's primary when `serving` (it takes writes now), else none.
  void Publish(const ClusterView& view, const ClusterPlan& plan, bool serving);

  const DbManagerOptions options_;
  const std::vector<InstancePlan> plans_;
  const std::string password_;  // The manager's account's.
  std::unique_ptr<daemon::Supervisor> servers_;
  std::filesystem::path backup_dir_;
  std::unique_ptr<BinlogArchiver> archiver_;
  std::unique_ptr<BackupScheduler> backups_;
  base::Counter& failovers_;
  base::Counter& primary_changes_;
  base::Counter& refusals_;
  base::Gauge& servers_up_;

  // The manager's thread's own.
  std::vector<std::optional<SqlClient>> probes_;  // One kept connection per server.
  std::optional<size_t> primary_;
  std::chrono::steady_clock::time_point primary_serving_at_;  // Last seen serving.
  proto::mysql::GtidPosition primary_last_position_;
  bool primary_last_semi_sync_ = false;
  std::optional<size_t> archived_;  // Whose binary log the archive copies.

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;                  // Guarded by mu_.
  DbTopology topology_;                    // Guarded by mu_.
  std::vector<InstanceView> views_;        // Guarded by mu_: the last probe of each.
  std::string refusal_;                    // Guarded by mu_: the last plan's, "" for none.
  std::optional<size_t> switchover_to_;    // Guarded by mu_: asked and not yet tried.
  std::optional<size_t> serving_primary_;  // Guarded by mu_: what topology_ names.
  std::string switchover_refusal_;         // Guarded by mu_: why the last one failed, or "".
  std::thread thread_;
};

}  // namespace trellis::db
