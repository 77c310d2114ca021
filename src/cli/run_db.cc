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
#include "db/restore.h"
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

struct DbBackupFlags {
  std::string manager = "http://127.0.0.1:7306";
  bool incremental = false;
  std::chrono::milliseconds patience{std::chrono::hours(1)};
};

int TakeDbBackup(const DbBackupFlags& flags) {
  const base::Result<db::BackupRecord> taken =
      http::RunBlocking([&](boost::asio::any_io_executor executor)
                            -> boost::asio::awaitable<base::Result<db::BackupRecord>> {
        auto manager = http::Client::ForUrl(executor, flags.manager);
        if (!manager) {
          co_return manager.error();
        }
        const db::BackupKind kind =
            flags.incremental ? db::BackupKind::kIncremental : db::BackupKind::kFull;
        co_return co_await db::TakeBackup(*manager, kind, flags.patience);
      });
  if (!taken) {
    std::fprintf(stderr, "trellis db backup: %s\n", taken.error().message.c_str());
    return 1;
  }
  std::printf("%s backup %s of %s: everything to %s, finished %s UTC\n",
              std::string(db::BackupKindName(taken->kind)).c_str(), taken->name.c_str(),
              taken->server.c_str(), taken->position.c_str(),
              db::FormatUtcTime(taken->finished_at).c_str());
  return 0;
}

struct DbRestoreFlags {
  std::string backups = "trellis-data/db/backups";
  std::string to;
  std::string into;
};

int RestoreTo(const DbRestoreFlags& flags) {
  auto restored = [&]() -> base::Result<db::RestoreOutcome> {
    TRELLIS_TRY(const int64_t time, db::ParseRestoreTime(flags.to));
    return db::Restore({flags.backups, time, flags.into});
  }();
  if (!restored) {
    std::fprintf(stderr, "trellis db restore: %s\n", restored.error().message.c_str());
    return 1;
  }
  std::printf("restored into %s what was committed before %s UTC: backups", flags.into.c_str(),
              flags.to.c_str());
  for (const db::BackupRecord& backup : restored->chain) {
    std::printf(" %s", backup.name.c_str());
  }
  std::printf(", then the binary log archived after %s\n", restored->chain.back().position.c_str());
  std::printf("start a server on it: mariadbd --no-defaults --datadir=%s --port=PORT\n",
              std::filesystem::absolute(flags.into).c_str());
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
      "db",
      "CDB's MariaDB servers: run them with one primary, failover and backups; make their "
      "data; back up, restore, switch over");
  app->require_subcommand(1);
  auto flags = std::make_shared<DbFlags>();
  CLI::App* run = app->add_subcommand(
      "run",
      "start the --config file's MariaDB servers (Debian's mariadbd), keep one primary among "
      "them with the others replicating from it semi-synchronously, replace a primary that "
      "stops serving with the most advanced server, and publish which one takes writes on "
      "the admin endpoint (GET /v1/db/topology, for trellis dbproxy); back the primary up "
      "and archive its binary log as the file's [backup] says (daily full, hourly "
      "incremental, into <data>/backups)");
  // --config (every daemon's) is the file of the servers and users.
  daemon::AddDaemonFlags(*run, flags->daemon, "127.0.0.1:0");
  flags->daemon.config_sections = {"instance", "user", "backup"};
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
  auto backup_flags = std::make_shared<DbBackupFlags>();
  CLI::App* backup = app->add_subcommand(
      "backup",
      "back the primary up now with mariadb-backup, into the manager's [backup] directory "
      "(full, or --incremental: the changes since the last backup)");
  backup->add_option("--manager", backup_flags->manager, "the manager's admin URL")
      ->capture_default_str();
  backup->add_flag("--incremental", backup_flags->incremental,
                   "only the changes since the last backup (a full one when the primary has "
                   "changed since, or there is none)");
  daemon::AddDurationFlag(
      *backup,
      {"--timeout", "how long to wait for it", std::chrono::seconds(1), std::chrono::hours(24)},
      backup_flags->patience);
  auto restore_flags = std::make_shared<DbRestoreFlags>();
  CLI::App* restore = app->add_subcommand(
      "restore",
      "make a new server's data directory holding exactly what was committed before a "
      "second: the last backup finished by then, and the archived binary log up to it");
  restore->add_option("--backups", restore_flags->backups, "the backup directory")
      ->capture_default_str();
  restore
      ->add_option("--to", restore_flags->to,
                   "the UTC time, to the second: 2026-12-05T16:13:24Z or \"2026-12-05 "
                   "16:13:24\"; transactions committed before it are restored")
      ->required();
  restore->add_option("--into", restore_flags->into, "the new data directory (new, or empty)")
      ->required();
  return {app, [run, init, backup, restore, flags, switchover_flags, backup_flags, restore_flags] {
            if (init->parsed()) {
              return InitDb(*flags);
            }
            if (backup->parsed()) {
              return TakeDbBackup(*backup_flags);
            }
            if (restore->parsed()) {
              return RestoreTo(*restore_flags);
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
