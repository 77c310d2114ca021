// CDB's backups on disk and the choices a restore and the retention make from them
// (docs/db.md, "Backups"):
//   <backups>/<name>/              what mariadb-backup wrote: a whole copy of a server's
//                                  data (full), or the pages changed since its base
//   <backups>/<name>/backup.json   its BackupRecord, written last: a directory without
//                                  one is an unfinished backup
//   <backups>/binlog/eras.json     the ArchiveEras, in order
//   <backups>/binlog/<era>/        the binary log files of that era's primary, copied as
//                                  they are written (binlog_archiver.h)
// A name is the UTC time the backup started and its kind: "20261205T161317Z-full".
//
// Points in time are Unix seconds: MariaDB stamps binary log events to the second.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/result.h"
#include "proto/mysql/gtid.h"

namespace trellis::db {

enum class BackupKind { kFull, kIncremental };

std::string_view BackupKindName(BackupKind kind);  // "full", "incremental"
std::optional<BackupKind> ParseBackupKind(std::string_view name);

struct BackupRecord {
  std::string name;
  BackupKind kind = BackupKind::kFull;
  std::string base;    // An incremental's: the backup it holds the changes since.
  std::string server;  // The server it was copied from (an incremental's base's too).
  // Every transaction up to this GTID position is in it, and none after.
  std::string position;
  std::string binlog_file;  // The server's binary log file at that position.
  int64_t started_at = 0;
  int64_t finished_at = 0;  // Rounded up to the second.

  friend bool operator==(const BackupRecord&, const BackupRecord&) = default;
};

nlohmann::json ToJson(const BackupRecord& record);
base::Result<BackupRecord> ParseBackupRecord(const nlohmann::json& json);

// POST /v1/db/backups's body: {"kind": "full"} or {"kind": "incremental"}.
struct BackupRequest {
  BackupKind kind = BackupKind::kFull;
};
nlohmann::json ToJson(const BackupRequest& request);
base::Result<BackupRequest> ParseBackupRequest(const nlohmann::json& json);

// The name of a backup of `kind` started at `started_at`.
std::string BackupName(int64_t started_at, BackupKind kind);

// What mariadb-backup writes to xtrabackup_binlog_info: "FILE\tOFFSET\tGTID-POSITION".
struct BinlogInfo {
  std::string file;
  std::string position;  // May be "" (no transaction written yet).
};
base::Result<BinlogInfo> ParseBinlogInfo(std::string_view text);

// The archive holds the binary log of each primary in turn; an era is one primary's.
struct ArchiveEra {
  std::string dir;     // Under <backups>/binlog: "3-db2".
  std::string server;  // Whose binary log it holds.
  // The position its primary had when it started to take writes: the era's own
  // transactions are those after it, and the era before ends there. "" for the first.
  std::string since;
  // The position at the start of the era's first file: the copy holds the transactions
  // after it, those its primary replicated before it took writes included (its binary
  // log has them). "" when the copy starts from the server's very first transaction.
  std::string starts_at;

  friend bool operator==(const ArchiveEra&, const ArchiveEra&) = default;
};

nlohmann::json ToJson(const std::vector<ArchiveEra>& eras);
base::Result<std::vector<ArchiveEra>> ParseArchiveEras(const nlohmann::json& json);

// The backups a restore to `time` starts from: the last full backup finished by `time`
// (at or before it), then each incremental built on the one before, finished by `time`.
// `backups` in the order they started. kNotFound, naming the earliest time there is,
// when no full backup finished by then.
base::Result<std::vector<BackupRecord>> ChainFor(const std::vector<BackupRecord>& backups,
                                                 int64_t time);

// Part of the archive to replay: the era's transactions after `start` up to and
// including `stop` ("": to its end).
struct ReplaySpan {
  std::string dir;
  std::string start;
  std::string stop;

  friend bool operator==(const ReplaySpan&, const ReplaySpan&) = default;
};

// What to replay onto a backup holding everything up to `position`: from each point on,
// the latest era whose copy starts at or before it, up to where the era after it began
// (the last: to its end). Each era's copy starts with its server's whole binary log, so
// usually the last era alone covers it all: what an old primary's copying missed before
// its failover is in its successor's copy. Errors: an era's position that does not parse.
base::Result<std::vector<ReplaySpan>> ReplayAfter(const std::vector<ArchiveEra>& eras,
                                                  const proto::mysql::GtidPosition& position);

// What the retention removes.
struct Expired {
  std::vector<std::string> backups;   // Names.
  std::vector<std::string> era_dirs;  // Whole eras before the oldest kept backup.
  std::string era_dir;                // The oldest kept backup's era ("" if none)...
  std::string files_before;           // ...whose binary log files named before this go.
};

// Keeps the `keep_full` newest full backups, every backup after the oldest of them, and
// the archive from that one on. `backups` in the order they started.
Expired ExpiredBy(const std::vector<BackupRecord>& backups, const std::vector<ArchiveEra>& eras,
                  size_t keep_full);

// "2026-12-05T16:13:24Z" or "2026-12-05 16:13:24" (UTC), whole seconds.
base::Result<int64_t> ParseRestoreTime(std::string_view text);
// "2026-12-05 16:13:24": mariadb-binlog's --stop-datetime, read in UTC (TZ=UTC).
std::string FormatUtcTime(int64_t time);

}  // namespace trellis::db
