// BackupScheduler: CDB's backups (docs/db.md, "Backups"): copies of the primary's data
// by Debian's mariadb-backup, full or incremental (the pages changed since the backup
// before, from the same server), on the [backup] schedule and when asked (POST
// /v1/db/backups), one at a time on a thread of its own; after each, the retention
// (backup_catalog.h's ExpiredBy); between backups, it compresses the archive's complete
// binary log files. An incremental asked for when there is no backup yet,
// or when the primary has changed since the last one, is taken as a full one.
//
// Thread safety: Ask, ReportStatus, Stop and the destructor from any thread; the backups run
// on the scheduler's thread, which is the only one writing the backups' directories.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json_fwd.hpp>

#include "base/metrics.h"
#include "base/result.h"
#include "db/backup_catalog.h"
#include "db/cluster_config.h"
#include "db/instance_setup.h"

namespace trellis::db {

struct BackupSchedulerOptions {
  DbBackupConfig config;
  std::filesystem::path backups;  // Where they go (absolute).
  std::filesystem::path data;     // The manager's data directory (the servers' data, tools.cnf).
  // The server that takes writes now, if any.
  std::function<std::optional<InstancePlan>()> primary;
};

class BackupScheduler {
 public:
  BackupScheduler(BackupSchedulerOptions options, base::Registry& metrics);
  ~BackupScheduler();  // Stop().
  // Stops the thread; a backup under way is killed and its directory removed. Ask then
  // refuses; ReportStatus goes on answering.
  void Stop();
  BackupScheduler(const BackupScheduler&) = delete;
  BackupScheduler& operator=(const BackupScheduler&) = delete;

  // A backup of `kind` taken as soon as the one under way (if any) is done.
  std::future<base::Result<BackupRecord>> Ask(BackupKind kind);
  // "backups": the last one's name and time, the last failure, the schedule.
  void ReportStatus(nlohmann::json& status) const;

 private:
  struct Request {
    BackupKind kind;
    std::promise<base::Result<BackupRecord>> done;
  };

  void Run();
  // The kind the schedule calls for now, if any.
  std::optional<BackupKind> Due(int64_t now) const;
  base::Result<BackupRecord> Take(BackupKind kind);
  // mariadb-backup with `args`, killed if the scheduler stops meanwhile.
  base::Status RunTool(std::vector<std::string> args);
  void Retain();
  // The archive's complete binary log files compressed (backup_files.h), at most every
  // kCompressEvery; called without mu_, between backups.
  void CompressArchive();

  const BackupSchedulerOptions options_;
  base::Counter& taken_;
  base::Counter& failed_;
  base::Gauge& last_finished_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;                  // Guarded by mu_.
  std::deque<Request> requests_;           // Guarded by mu_.
  std::optional<BackupRecord> last_;       // Guarded by mu_: the newest backup.
  std::optional<BackupRecord> last_full_;  // Guarded by mu_: the newest full one.
  std::string last_error_;   // Guarded by mu_: the last failure's, "" after a success.
  int64_t retry_after_ = 0;  // Guarded by mu_: no scheduled backup before (a failure).
  std::chrono::steady_clock::time_point next_compression_;  // The scheduler thread's own.
  std::thread thread_;
};

// Debian's tool.
inline constexpr const char* kMariadbBackup = "/usr/bin/mariadb-backup";

}  // namespace trellis::db
