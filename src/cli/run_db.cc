// `trellis db`: CDB's manager of MariaDB servers (docs/db.md, "trellis db"): `run` starts
// the servers of its file, keeps one primary among them and replaces it when it fails;
// `init` only makes their data directories.
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "base/file.h"
#include "cli/command.h"
#include "daemon/daemon.h"
#include "db/db_manager.h"
#include "db/manager_client.h"
#include "http/client.h"

namespace trellis::cli {
namespace {

struct SwitchoverFlags {
  std::string manager = "http://127.0.0.1:7306";
  std::string to;
  std::chrono::milliseconds patience{60000};
};

int SwitchOver(const SwitchoverFlags& flags) {
  const base::Result<db::DbTopology> done =
      http::RunBlocking([&](boost::asio::any_io_executor executor)
                            -> boost::asio::awaitable<base::Result<db::DbTopology>> {
        auto manager = http::Client::ForUrl(executor, flags.manager);
        if (!manager) {
          co_return manager.error();
        }
        co_return co_await db::SwitchOver(*manager, flags.to, flags.patience);
      });
  if (!done) {
    std::fprintf(stderr, "trellis db switchover: %s\n", done.error().message.c_str());
    return 1;
  }
  std::printf("%s (%s) is the primary\n", flags.to.c_str(), done->primary.c_str());
  return 0;
}

struct DbFlags {
  daemon::DaemonFlags daemon;
  std::string data = "trellis-data/db";
  std::chrono::milliseconds probe_interval{250};
  std::chrono::milliseconds failover_after{2000};
};

base::Result<db::DbManagerOptions> ManagerOptions(const DbFlags& flags) {
  if (flags.daemon.config.empty()) {
    return base::InvalidArgument("--config: the file of the MariaDB servers is needed");
  }
  TRELLIS_TRY(const std::string text, base::ReadFile(flags.daemon.config));
  auto config = db::ParseDbClusterConfig(text);
  if (!config) {
    return base::WithContext("--config " + flags.daemon.config, config.error());
  }
  db::DbManagerOptions options;
  options.config = std::move(config).value();
  options.data = flags.data;
  options.probe_interval = flags.probe_interval;
  options.failover_after = flags.failover_after;
  return options;
}

base::Status RunDb(daemon::Daemon& daemon, const DbFlags& flags) {
  TRELLIS_TRY(db::DbManagerOptions options, ManagerOptions(flags));
  TRELLIS_TRY(auto manager, db::DbManager::Start(std::move(options), daemon.metrics()));
  daemon.set_api(manager->Api(), nullptr);
  daemon.Add(std::move(manager));
  return {};
}

int InitDb(const DbFlags& flags) {
  auto prepared = [&]() -> base::Status {
    TRELLIS_TRY(const db::DbManagerOptions options, ManagerOptions(flags));
    TRELLIS_TRY(const auto plans, db::InstancePlans(options));
    TRELLIS_TRY(const std::string password, db::PrepareInstances(plans, options.data));
    return {};
  }();
  if (!prepared) {
    std::fprintf(stderr, "trellis db init: %s\n", prepared.error().message.c_str());
    return 1;
  }
  std::printf("data directories ready under %s\n", flags.data.c_str());
  return 0;
}

// The file and data flags `run` and `init` share.
void AddFileFlags(CLI::App& app, DbFlags& flags) {
  app.add_option("--data", flags.data,
                 "directory of the servers' data (<data>/<name>), logs (<data>/logs) and the "
                 "manager's password (<data>/admin.password)")
      ->capture_default_str();
}

}  // namespace

Command AddDbCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand(
      "db", "CDB's MariaDB servers: run them with one primary and failover, or make their data");
  app->require_subcommand(1);
  auto flags = std::make_shared<DbFlags>();
  CLI::App* run = app->add_subcommand(
      "run",
      "start the --config file's MariaDB servers (Debian's mariadbd), keep one primary among "
      "them with the others replicating from it semi-synchronously, replace a primary that "
      "stops serving with the most advanced server, and publish which one takes writes on "
      "the admin endpoint (GET /v1/db/topology, for trellis dbproxy)");
  // --config (every daemon's) is the file of the servers and users.
  daemon::AddDaemonFlags(*run, flags->daemon, "127.0.0.1:0");
  flags->daemon.config_sections = {"instance", "user"};
  AddFileFlags(*run, *flags);
  daemon::AddDurationFlag(*run,
                          {"--probe-interval", "how often each server is probed",
                           std::chrono::milliseconds(10), std::chrono::minutes(1)},
                          flags->probe_interval);
  daemon::AddDurationFlag(*run,
                          {"--failover-after",
                           "how long a primary may not serve (not answer, or answer read-only) "
                           "before it is replaced",
                           std::chrono::milliseconds(100), std::chrono::minutes(10)},
                          flags->failover_after);
  CLI::App* init = app->add_subcommand(
      "init", "make the --config file's servers' data directories (mariadb-install-db) and exit");
  init->add_option("-c,--config", flags->daemon.config, "the file of the MariaDB servers")
      ->required();
  AddFileFlags(*init, *flags);
  auto switchover_flags = std::make_shared<SwitchoverFlags>();
  CLI::App* switchover = app->add_subcommand(
      "switchover",
      "make another server the primary with no acknowledged write lost: the primary turns "
      "read-only, the new one applies all it wrote, takes writes, and the old one follows it");
  switchover->add_option("--manager", switchover_flags->manager, "the manager's admin URL")
      ->capture_default_str();
  switchover->add_option("--to", switchover_flags->to, "the server's name in the manager's file")
      ->required();
  daemon::AddDurationFlag(
      *switchover,
      {"--timeout", "how long to wait for it", std::chrono::seconds(1), std::chrono::minutes(10)},
      switchover_flags->patience);
  return {app, [run, init, flags, switchover_flags] {
            if (init->parsed()) {
              return InitDb(*flags);
            }
            if (!run->parsed()) {
              return SwitchOver(*switchover_flags);
            }
            return daemon::RunDaemon(
                *run, flags->daemon,
                {"db", false, [&flags](daemon::Daemon& d) { return RunDb(d, *flags); }});
          }};
}

}  // namespace trellis::cli
