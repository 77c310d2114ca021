// The file of `trellis db` (docs/db.md, "trellis db"): the MariaDB servers it runs and
// keeps one primary among, and the application accounts it makes on them.
//
//   [[instance]]
//   name = "db1"                  # its data is <data>/db1, its log <data>/logs/db1.log
//   listen = "127.0.0.1:3307"
//   [[instance]]
//   name = "db2"
//   listen = "127.0.0.1:3308"
//   [[user]]                      # made on the primary, replicated to the others
//   name = "app"
//   password = "secret"           # or the "*" and 40 hex digits PASSWORD() gives
//   [backup]                      # optional; these are the defaults
//   dir = "backups"               # relative to the data directory
//   full_every = "24h"            # "0": only when asked
//   incremental_every = "1h"      # "0": only when asked
//   keep_full = 2                 # full backups kept, with what restoring them needs
//
// The order of the instances is their server ids (1, 2, ...), which never change, and
// the first is the first primary. Parsing is strict, as dbproxy_config.h's.
//
// Thread safety: pure functions and plain values.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "db/dbproxy_config.h"

namespace trellis::db {

struct DbInstanceConfig {
  std::string name;    // Letters, digits, '-' and '_': it names a directory.
  std::string listen;  // HOST:PORT.
};

// Backups of the primary and the archive of its binary log (docs/db.md, "Backups").
struct DbBackupConfig {
  std::string dir = "backups";  // Relative: to the data directory.
  std::chrono::milliseconds full_every = std::chrono::hours(24);        // 0: when asked.
  std::chrono::milliseconds incremental_every = std::chrono::hours(1);  // 0: when asked.
  size_t keep_full = 2;                                                 // At least 1.
};

struct DbClusterConfig {
  std::vector<DbInstanceConfig> instances;  // At least one; names and addresses unique.
  std::vector<ProxyUser> users;
  DbBackupConfig backup;
};

base::Result<DbClusterConfig> ParseDbClusterConfig(std::string_view text);

}  // namespace trellis::db
