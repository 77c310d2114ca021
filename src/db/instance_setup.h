// What running a MariaDB server under CDB's manager takes on disk and on its command line
// (docs/db.md, "trellis db"):
//   <data>/<name>/            its data directory, made once by mariadb-install-db
//   <data>/<name>.sock        its socket (root logs in there, by the unix_socket plugin)
//   <data>/admin.password     the password of the manager's own account, made once
//   <data>/tools.cnf          the manager's account for MariaDB's tools
//   <data>/<name>.init.sql    run by the server at every start: the manager's account,
//                             never written to the binary log (each server makes its own)
// Every server starts read-only, with its binary log, GTIDs in strict mode, the replica's
// side of semi-synchronous replication on (its crash recovery then drops from its binary
// log what no replica acknowledged), and without starting replication: only the
// manager's word makes it a primary (whose commits then wait for a replica's
// acknowledgement, AFTER_SYNC: a client hears of a commit only once a replica has it) or
// a replica (failover_plan.h).
//
// Thread safety: pure functions, and file operations on the instance's own files.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "base/result.h"

namespace trellis::db {

// The account the manager logs in to every server with, from 127.0.0.1 only.
inline constexpr const char* kManagerUser = "trellis";

struct InstancePlan {
  std::string name;
  boost::asio::ip::tcp::endpoint listen;
  int server_id = 1;
  std::filesystem::path data;  // The manager's data directory (<data> above).
  // How long a commit waits for a replica's acknowledgement before the primary goes on
  // without (then it is not semi-synchronous, which a failover takes into account).
  std::chrono::milliseconds semi_sync_timeout{10000};
};

// A new random secret: 32 hex digits.
base::Result<std::string> RandomSecret();

// The secret in `path`, or a new random one written there (mode 0600) when there is
// none: 32 hex digits.
base::Result<std::string> SecretInFile(const std::filesystem::path& path);

// Makes the server's data directory with mariadb-install-db, unless it exists, and
// writes its init file with the manager's account (`manager_password`). The install's
// output goes to <data>/logs/<name>.install.log.
base::Status PrepareInstance(const InstancePlan& plan, const std::string& manager_password);

// The option file MariaDB's tools (mariadb-backup, mariadb-binlog) log in with: the
// manager's account, [client] user and password; <data>/tools.cnf, mode 0600.
std::filesystem::path ToolOptionsPath(const std::filesystem::path& data);
base::Status WriteToolOptions(const std::filesystem::path& data,
                              const std::string& manager_password);

// mariadbd's arguments (after the program name).
std::vector<std::string> MariadbdArgs(const InstancePlan& plan);

// Where Debian puts the server and its installer.
inline constexpr const char* kMariadbd = "/usr/sbin/mariadbd";
inline constexpr const char* kMariadbInstallDb = "/usr/bin/mariadb-install-db";

}  // namespace trellis::db
