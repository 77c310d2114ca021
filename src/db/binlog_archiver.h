// BinlogArchiver: keeps a copy of the primary's binary log in the backup directory as the
// primary writes it (backup_catalog.h), so that a restore can reach any second between
// backups. The copying is Debian's `mariadb-binlog --read-from-remote-server --raw
// --stop-never`, run as a supervised child: started again where it was when it exits,
// and replaced by one copying the new primary, in a new era of the archive, when the
// primary changes.
//
// The copy lags the primary by what is in flight and is not synced to disk event by
// event: a crash of the manager's machine may lose the archive's last moments (never the
// servers' own binary logs, each server's copy of every commit).
//
// Thread safety: the manager's thread only.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "base/result.h"
#include "daemon/supervisor.h"
#include "db/instance_setup.h"
#include "db/sql_client.h"

namespace trellis::db {

class BinlogArchiver {
 public:
  // `tool_options`: the option file with the manager's account (ToolOptionsPath).
  BinlogArchiver(std::filesystem::path backups, std::filesystem::path tool_options,
                 daemon::Supervisor& children);

  // Records that `primary` (`client`: logged in to it) begins to take writes after
  // `since`, its GTID position now: a new era of the archive, durably, unless the last
  // one is already this server's. Its copy will start with the server's first binary log
  // file. Called before the server takes writes, so that no restart of the manager can
  // lose where the era began.
  base::Status BeginEra(const InstancePlan& primary, SqlClient& client, const std::string& since);
  // Copies the binary log of `primary` from now on: the archive's last era goes on when it
  // is this server's (from the newest file copied), else a new one begins after `since`.
  base::Status Follow(const InstancePlan& primary, SqlClient& client, const std::string& since);

 private:
  const std::filesystem::path backups_;
  const std::filesystem::path tool_options_;
  daemon::Supervisor& children_;
};

// Debian's tool.
inline constexpr const char* kMariadbBinlog = "/usr/bin/mariadb-binlog";

}  // namespace trellis::db
