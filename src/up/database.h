// The CDB part of `trellis up` (docs/db.md, "trellis up"): a `trellis db` manager running a
// MariaDB primary and one replica, and a `trellis dbproxy` in front of them on the MySQL
// address, with an application user `app` whose password is made once and kept in
// <data>/db/app.password (mode 0600). The files it writes: <data>/db.toml (the manager's:
// two servers on free ports, the user by its password's hash) and <data>/dbproxy.toml (reads
// on the replica: replica_reads).
// The servers' data is under <data>/db.
//
// Skipped, with the reason, where Debian's MariaDB server is not installed.
//
// Thread safety: none; `trellis up`'s start-up only.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "base/result.h"
#include "daemon/supervisor.h"

namespace trellis::up {

struct DatabasePlan {
  daemon::ChildSpec manager;  // Starts first: the proxy asks it which server is the primary.
  daemon::ChildSpec proxy;
  std::filesystem::path password_file;
  std::string password;  // The application user's.
};

struct DatabaseOptions {
  std::filesystem::path data;              // up's --data.
  boost::asio::ip::tcp::endpoint mysql;    // Where clients connect (the proxy).
  boost::asio::ip::tcp::endpoint manager;  // The manager's admin endpoint.
  std::vector<std::string> common;         // Every child's flags but --admin.
};

// Why CDB cannot run here ("... is not installed"), or nullopt.
std::optional<std::string> DatabaseUnavailable();

// Writes the files and plans the two children.
base::Result<DatabasePlan> PlanDatabase(const DatabaseOptions& options);

}  // namespace trellis::up
