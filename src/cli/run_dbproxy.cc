// `trellis dbproxy`: CDB's MySQL-protocol proxy (docs/db.md): clients of many, a few
// connections to the database server, lent per statement or per transaction.
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "base/file.h"
#include "cli/command.h"
#include "daemon/daemon.h"
#include "db/dbproxy.h"

namespace trellis::cli {
namespace {

struct DbProxyFlags {
  daemon::DaemonFlags daemon;
  std::string listen = "127.0.0.1:3306";
  int threads = 1;
  size_t max_connections = 20000;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds lend_timeout{10000};
};

base::Status RunDbProxy(daemon::Daemon& daemon, const DbProxyFlags& flags) {
  if (flags.daemon.config.empty()) {
    return base::InvalidArgument("--config: the file of the database server and users is needed");
  }
  TRELLIS_TRY(const std::string text, base::ReadFile(flags.daemon.config));
  auto config = db::ParseDbProxyConfig(text);
  if (!config) {
    return base::WithContext("--config " + flags.daemon.config, config.error());
  }
  db::DbProxyOptions options;
  options.config = std::move(config).value();
  TRELLIS_TRY(options.listen, daemon::ResolveFlag("--listen", flags.listen));
  options.threads = static_cast<size_t>(flags.threads);
  options.max_client_connections = flags.max_connections;
  options.connect_timeout = flags.connect_timeout;
  options.lend_timeout = flags.lend_timeout;
  TRELLIS_TRY(auto proxy, db::DbProxy::Start(options, daemon.metrics()));
  daemon.Add(std::move(proxy));
  return {};
}

}  // namespace

Command AddDbProxyCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand(
      "dbproxy",
      "run CDB's MySQL-protocol proxy: clients log in as the --config file's users, and their "
      "statements run on at most max_backend_connections connections to the database server, "
      "lent per statement, per transaction, or for a session that lives on one (docs/db.md)");
  auto flags = std::make_shared<DbProxyFlags>();
  // --config (every daemon's) is the file of the server and users.
  daemon::AddDaemonFlags(*app, flags->daemon, "127.0.0.1:0");
  flags->daemon.config_sections = {"primary",       "manager",         "max_backend_connections",
                                   "replica_reads", "max_replica_lag", "user"};
  app->add_option("-l,--listen", flags->listen, "HOST:PORT for MySQL clients")
      ->capture_default_str();
  app->add_option("-t,--threads", flags->threads, "worker threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app->add_option("--max-connections", flags->max_connections,
                  "client connections open at once, at most (more are refused)")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  daemon::AddDurationFlag(
      *app,
      {"--connect-timeout", "how long the database server may take to accept a connection",
       std::chrono::milliseconds(1), std::chrono::minutes(1)},
      flags->connect_timeout);
  daemon::AddDurationFlag(*app,
                          {"--lend-timeout",
                           "how long a client's command may wait for a connection to the "
                           "database server when all are lent (then: 1040 Too many connections)",
                           std::chrono::milliseconds(1), std::chrono::minutes(10)},
                          flags->lend_timeout);
  return {app, [app, flags] {
            return daemon::RunDaemon(
                *app, flags->daemon,
                {"dbproxy", false, [&flags](daemon::Daemon& d) { return RunDbProxy(d, *flags); }});
          }};
}

}  // namespace trellis::cli
