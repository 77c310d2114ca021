// The backup center's HTTP API (docs/backup.md, "API"), as typed values on both sides:
//   GET  /v1/backup   -> BackupStatus: per group, the stream, the files, what is restorable;
//                        the last restore
//   POST /v1/restore  RestoreRequest -> RestoreReply (once planned, or once written)
//   GET  /v1/restore  -> RestoreReply of the restore running, or of the last one
//
// Thread safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/result.h"

namespace trellis::backup {

struct ArchiveFileStatus {
  std::string name;
  std::string kind;  // "dump" or "segment".
  uint64_t bytes = 0;
  bool complete = false;  // A dump that ended, a sealed segment.
};

struct TimeRange {
  uint32_t from = 0;  // Unix seconds, inclusive.
  uint32_t to = 0;
};

struct GroupBackupStatus {
  std::string group;
  std::string main;  // HOST:PORT streamed from ("" while none).
  bool streaming = false;
  double lag_seconds = -1;            // Behind the main's clock (-1: no heartbeat yet).
  uint64_t bytes_archived = 0;        // Written by this process since it started.
  std::vector<TimeRange> restorable;  // Oldest first; the gaps are between them.
  std::vector<ArchiveFileStatus> files;
  uint32_t last_dump = 0;  // When the newest complete dump ended (unix s; 0: none).
  std::string error;       // The archive's last error ("" if none).
};

struct RestoreRequest {
  uint32_t to = 0;  // Unix seconds.
  bool dry_run = false;
  std::string group;  // Only the keys of the slots this group holds now ("": every key).
  uint64_t rate = 0;  // At most this many keys written a second (0: as fast as it goes).
  bool wait = false;  // Answer once written (else once planned; the writing goes on).
  // Run the interrupted (or failed) restore again, with its own time, group and rate:
  // what it wrote already holds what it should and is left alone.
  bool resume = false;
};

struct RestoreReply {
  uint32_t to = 0;
  bool dry_run = false;
  std::string group;
  uint64_t rate = 0;
  // "writing", "done", "failed", or "interrupted" (the center stopped while writing).
  std::string state;
  uint64_t restored = 0;   // Keys set back to their value at `to`.
  uint64_t deleted = 0;    // Keys that did not exist at `to` (or expired since).
  uint64_t unchanged = 0;  // Keys changed after `to` that hold what they held then.
  uint64_t written = 0;    // Keys of restored + deleted written so far.
  std::string error;       // Why it failed ("" unless failed).
  double seconds = 0;
};

struct BackupStatus {
  std::vector<GroupBackupStatus> groups;
  std::optional<RestoreReply> restore;  // The restore running, or the last one.
};

// A restore time as an operator writes it: unix seconds ("1764820000"), relative to
// `now` ("-30s", "-5m", "-2h", "-1d"), or RFC 3339 ("2026-12-04T10:00:00Z",
// "2026-12-04T11:00:00+01:00"; fractions of a second are cut).
base::Result<uint32_t> ParseTime(std::string_view text, uint32_t now);

nlohmann::json ToJson(const BackupStatus& status);
base::Result<BackupStatus> ParseBackupStatus(const nlohmann::json& json);
nlohmann::json ToJson(const RestoreRequest& request);
base::Result<RestoreRequest> ParseRestoreRequest(const nlohmann::json& json);
nlohmann::json ToJson(const RestoreReply& reply);
base::Result<RestoreReply> ParseRestoreReply(const nlohmann::json& json);

}  // namespace trellis::backup
