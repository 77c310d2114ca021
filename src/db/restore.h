// `trellis db restore`: a new server's data directory holding exactly the transactions
// committed before a chosen second (docs/db.md, "Backups"). From the backup directory
// alone (no manager, no running server needed): the last full backup finished by then
// and its incrementals are copied and prepared by mariadb-backup; a server of its own
// (socket only, no binary log) is started on the copy, the archived binary log from the
// backup's position to that second is replayed into it (mariadb-binlog --stop-datetime,
// era by era: backup_catalog.h's ReplayAfter), and it is shut down cleanly. Its work
// goes in NEW.restore/ and the tools' output in NEW.restore.log, beside the directory;
// a restore that fails leaves the directory empty again.
//
// Thread safety: a blocking function; it runs programs and waits for them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "base/result.h"
#include "db/backup_catalog.h"

namespace trellis::db {

struct RestoreRequest {
  std::filesystem::path backups;
  int64_t time = 0;            // Unix seconds: what committed before it.
  std::filesystem::path into;  // Made; must not exist, or be empty.
};

struct RestoreOutcome {
  std::vector<BackupRecord> chain;   // The backups it started from.
  std::vector<ReplaySpan> replayed;  // What of the archive was replayed after them.
  std::filesystem::path log;         // The tools' output.
};

base::Result<RestoreOutcome> Restore(const RestoreRequest& request);

}  // namespace trellis::db
