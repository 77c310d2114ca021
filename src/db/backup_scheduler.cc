#include "db/backup_scheduler.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/file.h"
#include "daemon/program.h"
#include "db/backup_files.h"

namespace trellis::db {
namespace {

// How often the schedule is looked at, and how long after a failed scheduled backup the
// next is tried.
constexpr std::chrono::seconds kTick{1};
constexpr int64_t kRetryAfterSeconds = 60;
constexpr std::chrono::milliseconds kToolPoll{50};
// How often the archive is looked at for files to compress.
constexpr std::chrono::seconds kCompressEvery{10};

int64_t NowSeconds() { return static_cast<int64_t>(base::UnixMilliseconds() / 1000); }

// Rounded up: a backup's every transaction committed before this second ended.
int64_t NowSecondsRoundedUp() {
  return static_cast<int64_t>((base::UnixMilliseconds() + 999) / 1000);
}

int64_t Seconds(std::chrono::milliseconds every) {
  return std::chrono::duration_cast<std::chrono::seconds>(every).count();
}

}  // namespace

BackupScheduler::BackupScheduler(BackupSchedulerOptions options, base::Registry& metrics)
    : options_(std::move(options)),
      taken_(
          metrics.GetCounter("trellis_db_backups_total", "Backups taken (full or incremental).")),
      failed_(metrics.GetCounter("trellis_db_backup_failures_total", "Backups that failed.")),
      last_finished_(metrics.GetGauge("trellis_db_last_backup_timestamp_seconds",
                                      "When the newest backup finished (Unix time).")) {
  // Backups a crash cut short: a directory without its record.
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(options_.backups, error)) {
    if (entry.is_directory() && entry.path().filename() != kArchiveDir &&
        !std::filesystem::exists(entry.path() / kBackupRecordFile)) {
      spdlog::warn("backup {} was never finished: removed", entry.path().filename().string());
      std::filesystem::remove_all(entry.path(), error);
    }
  }
  if (auto records = ReadBackups(options_.backups); records && !records->empty()) {
    last_ = records->back();
    for (const BackupRecord& record : *records) {
      if (record.kind == BackupKind::kFull) {
        last_full_ = record;
      }
    }
    last_finished_.Set(last_->finished_at);
  } else if (!records) {
    spdlog::error("backups: {}", records.error().message);
  }
  thread_ = std::thread([this] { Run(); });
}

BackupScheduler::~BackupScheduler() { Stop(); }

void BackupScheduler::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

std::future<base::Result<BackupRecord>> BackupScheduler::Ask(BackupKind kind) {
  std::lock_guard lock(mu_);
  Request& request = requests_.emplace_back(Request{kind, {}});
  std::future<base::Result<BackupRecord>> done = request.done.get_future();
  if (stopping_) {
    request.done.set_value(base::Unavailable("shutting down: no backup is taken"));
    requests_.pop_back();
  }
  wake_.notify_all();
  return done;
}

std::optional<BackupKind> BackupScheduler::Due(int64_t now) const {
  if (now < retry_after_) {
    return std::nullopt;
  }
  const int64_t full_every = Seconds(options_.config.full_every);
  const int64_t incremental_every = Seconds(options_.config.incremental_every);
  if (full_every > 0 && (!last_full_ || now >= last_full_->started_at + full_every)) {
    return BackupKind::kFull;
  }
  if (incremental_every > 0 && last_ && now >= last_->started_at + incremental_every) {
    return BackupKind::kIncremental;
  }
  return std::nullopt;
}

void BackupScheduler::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait_for(lock, kTick, [this] { return stopping_ || !requests_.empty(); });
    if (stopping_) {
      for (Request& request : requests_) {
        request.done.set_value(base::Unavailable("shutting down: no backup is taken"));
      }
      requests_.clear();
      return;
    }
    std::optional<Request> request;
    std::optional<BackupKind> kind;
    if (!requests_.empty()) {
      request.emplace(std::move(requests_.front()));
      requests_.pop_front();
      kind = request->kind;
    } else {
      kind = Due(NowSeconds());
      if (!kind) {
        lock.unlock();
        CompressArchive();
        lock.lock();
        continue;
      }
    }
    // (The primary is asked for without the lock: the manager's status holds its own
    // lock while it reads this one's.)
    lock.unlock();
    if (!request && !options_.primary()) {
      lock.lock();
      continue;  // The schedule waits for a primary.
    }
    base::Result<BackupRecord> taken = Take(*kind);
    if (taken) {
      Retain();
    }
    lock.lock();
    if (taken) {
      taken_.Increment();
      last_finished_.Set(taken->finished_at);
      last_ = *taken;
      if (taken->kind == BackupKind::kFull) {
        last_full_ = *taken;
      }
      last_error_.clear();
      spdlog::info("backup {} taken from {} (position {})", taken->name, taken->server,
                   taken->position);
    } else {
      failed_.Increment();
      last_error_ = taken.error().message;
      retry_after_ = request ? retry_after_ : NowSeconds() + kRetryAfterSeconds;
      spdlog::error("backup: {}", last_error_);
    }
    if (request) {
      request->done.set_value(std::move(taken));
    }
  }
}

base::Result<BackupRecord> BackupScheduler::Take(BackupKind kind) {
  const std::optional<InstancePlan> primary = options_.primary();
  if (!primary) {
    return base::Unavailable("no primary to back up (a failover is under way)");
  }
  TRELLIS_TRY(const std::vector<BackupRecord> records, ReadBackups(options_.backups));
  BackupRecord record;
  record.started_at = NowSeconds();
  record.server = primary->name;
  record.kind = kind;
  if (kind == BackupKind::kIncremental) {
    if (records.empty() || records.back().server != primary->name) {
      record.kind = BackupKind::kFull;  // Nothing of this server's to build on.
    } else {
      record.base = records.back().name;
    }
  }
  record.name = BackupName(record.started_at, record.kind);
  for (int n = 2; std::filesystem::exists(options_.backups / record.name); ++n) {
    record.name = fmt::format("{}-{}", BackupName(record.started_at, record.kind), n);
  }
  const std::filesystem::path target = options_.backups / record.name;
  std::vector<std::string> args = {
      "--defaults-file=" + ToolOptionsPath(options_.data).string(),
      "--backup",
      "--target-dir=" + target.string(),
      "--host=" + primary->listen.address().to_string(),
      "--port=" + std::to_string(primary->listen.port()),
      "--datadir=" + (primary->data / primary->name).string(),
  };
  if (!record.base.empty()) {
    args.push_back("--incremental-basedir=" + (options_.backups / record.base).string());
  }
  auto taken = [&]() -> base::Result<BinlogInfo> {
    TRELLIS_TRY_STATUS(RunTool(std::move(args)));
    TRELLIS_TRY(const std::string info, base::ReadFile(target / "xtrabackup_binlog_info"));
    return ParseBinlogInfo(info);
  }();
  if (!taken) {
    std::error_code ignored;
    std::filesystem::remove_all(target, ignored);
    return base::WithContext("backup " + record.name, taken.error());
  }
  record.position = taken->position;
  record.binlog_file = taken->file;
  record.finished_at = NowSecondsRoundedUp();
  TRELLIS_TRY_STATUS(WriteBackupRecord(options_.backups, record));
  return record;
}

base::Status BackupScheduler::RunTool(std::vector<std::string> args) {
  std::error_code made;
  std::filesystem::create_directories(options_.backups, made);
  if (made) {
    return base::InvalidArgument(options_.backups.string() + ": " + made.message());
  }
  const std::filesystem::path log = options_.data / "logs" / "backup.log";
  TRELLIS_TRY(daemon::StartedProgram tool,
              daemon::StartedProgram::Start({kMariadbBackup, std::move(args), log, {}, {}}));
  std::unique_lock lock(mu_);
  while (!wake_.wait_for(lock, kToolPoll, [this] { return stopping_; })) {
    lock.unlock();
    if (const std::optional<int> status = tool.Exited()) {
      return *status == 0
                 ? base::Status()
                 : base::Unavailable(fmt::format("mariadb-backup {}; see {}",
                                                 daemon::DescribeExit(*status), log.string()));
    }
    lock.lock();
  }
  tool.Stop(std::chrono::seconds(1));
  return base::Unavailable("shutting down: the backup was stopped");
}

void BackupScheduler::CompressArchive() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_compression_) {
    return;
  }
  next_compression_ = now + kCompressEvery;
  if (const base::Status compressed = CompressClosedFiles(options_.backups); !compressed) {
    spdlog::error("compressing the archive: {}", compressed.error().message);
  }
}

void BackupScheduler::Retain() {
  auto records = ReadBackups(options_.backups);
  auto eras = ReadEras(options_.backups);
  if (!records || !eras) {
    spdlog::error("backup retention: {}", (!records ? records.error() : eras.error()).message);
    return;
  }
  const Expired expired = ExpiredBy(*records, *eras, options_.config.keep_full);
  std::error_code error;
  // The backups first: the archive they needed goes only once they are gone.
  for (const std::string& name : expired.backups) {
    std::filesystem::remove_all(options_.backups / name, error);
    spdlog::info("backup {} removed (retention: {} full backups kept)", name,
                 options_.config.keep_full);
  }
  for (const std::string& dir : expired.era_dirs) {
    std::filesystem::remove_all(options_.backups / kArchiveDir / dir, error);
  }
  if (!expired.era_dir.empty()) {
    for (const auto& file : EraFiles(options_.backups / kArchiveDir / expired.era_dir)) {
      if (file.filename().string() < expired.files_before) {
        std::filesystem::remove(file, error);
      }
    }
  }
}

void BackupScheduler::ReportStatus(nlohmann::json& status) const {
  std::lock_guard lock(mu_);
  status["backups"] = {{"last", last_ ? last_->name : ""},
                       {"last_finished_at", last_ ? FormatUtcTime(last_->finished_at) : ""},
                       {"last_error", last_error_},
                       {"full_every_seconds", Seconds(options_.config.full_every)},
                       {"incremental_every_seconds", Seconds(options_.config.incremental_every)},
                       {"keep_full", options_.config.keep_full}};
}

}  // namespace trellis::db
