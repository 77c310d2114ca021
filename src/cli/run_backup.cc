// `trellis backup-center`: the archive of every group's changes and point-in-time
// restore (docs/backup.md); `trellis backup list|restore`: its operator commands.
#include <fmt/core.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "backup/backup_api.h"
#include "backup/backup_center.h"
#include "backup/cluster_dump.h"
#include "backup/restore_writer.h"
#include "base/clock.h"
#include "cli/command.h"
#include "daemon/daemon.h"
#include "http/client.h"
#include "master/client/master_authenticator.h"

namespace trellis::cli {
namespace {

namespace asio = boost::asio;

struct BackupCenterFlags {
  daemon::DaemonFlags daemon;
  std::string listen = "127.0.0.1:9191";
  std::string data = "trellis-data/backup";
  daemon::ServiceMasterFlags master;
  std::string access = "127.0.0.1:11211";
  std::chrono::milliseconds segment{std::chrono::minutes(5)};
  std::chrono::milliseconds dump_every{std::chrono::hours(1)};
  std::chrono::milliseconds retain{std::chrono::hours(24 * 7)};
};

base::Status RunBackupCenter(daemon::Daemon& daemon, const BackupCenterFlags& flags) {
  backup::BackupCenterOptions options;
  TRELLIS_TRY(options.listen, daemon::ResolveFlag("--listen", flags.listen));
  options.data = flags.data;
  TRELLIS_TRY(options.master, daemon::MasterAccessOf(flags.master));
  options.authenticator = std::make_shared<master::MasterAuthenticator>(options.master);
  options.access = flags.access;
  options.segment_length = std::max(
      std::chrono::seconds(1), std::chrono::duration_cast<std::chrono::seconds>(flags.segment));
  options.dump_every = flags.dump_every;
  options.retain = flags.retain;
  TRELLIS_TRY(auto center, backup::BackupCenter::Start(options, daemon.metrics()));
  daemon.Add(std::move(center));
  return {};
}

struct BackupFlags {
  std::string center;
  std::string data = "trellis-data";
  std::string token_file;
  std::string file;  // dump --out, load --in.
  std::string access = "127.0.0.1:11211";
  bool json = false;
  std::string to;
  bool dry_run = false;
  std::string group;
  uint64_t rate = 0;
  bool wait = false;
  bool resume = false;
};

// --center, or the one `trellis up` started from this directory.
base::Result<std::string> CenterUrl(const BackupFlags& flags) {
  if (!flags.center.empty()) {
    return flags.center;
  }
  return daemon::UrlOfUp(flags.data, "backup.url");
}

// A client of the center, with the operator's token.
base::Result<http::Client> CenterClient(asio::any_io_executor executor, const BackupFlags& flags) {
  TRELLIS_TRY(const std::string url, CenterUrl(flags));
  TRELLIS_TRY(std::string token, daemon::OperatorToken(flags.token_file, flags.data));
  TRELLIS_TRY(http::Client client, http::Client::ForUrl(std::move(executor), url));
  client.set_token(std::move(token));
  return client;
}

std::string Time(uint32_t unix_seconds) {
  return base::FormatUtc(unix_seconds, "%Y-%m-%dT%H:%M:%SZ");
}

void PrintStatus(const backup::BackupStatus& status) {
  for (const backup::GroupBackupStatus& group : status.groups) {
    fmt::print(
        "{}: {} from {}, lag {}, {} bytes archived since start{}\n", group.group,
        group.streaming ? "streaming" : "not streaming",
        group.main.empty() ? "(no main)" : group.main,
        group.lag_seconds < 0 ? std::string("unknown") : fmt::format("{:.1f} s", group.lag_seconds),
        group.bytes_archived, group.error.empty() ? "" : ", error: " + group.error);
    for (size_t i = 0; i < group.restorable.size(); ++i) {
      if (i > 0) {
        fmt::print("  gap       {} .. {}\n", Time(group.restorable[i - 1].to),
                   Time(group.restorable[i].from));
      }
      fmt::print("  restorable {} .. {}\n", Time(group.restorable[i].from),
                 Time(group.restorable[i].to));
    }
    uint64_t dumps = 0;
    uint64_t segments = 0;
    uint64_t bytes = 0;
    for (const backup::ArchiveFileStatus& file : group.files) {
      (file.kind == "dump" ? dumps : segments) += 1;
      bytes += file.bytes;
    }
    fmt::print("  {} dumps (last {}), {} segments, {} bytes\n", dumps,
               group.last_dump == 0 ? std::string("none") : Time(group.last_dump), segments, bytes);
  }
  if (const auto& restore = status.restore) {
    fmt::print("restore to {}{}: {}, {} of {} keys written{}\n", Time(restore->to),
               restore->group.empty() ? "" : " (group " + restore->group + ")", restore->state,
               restore->written, restore->restored + restore->deleted,
               restore->error.empty() ? "" : ": " + restore->error);
  }
}

// `trellis backup dump`: the center's dump of the whole cluster into --out.
base::Status Dump(const BackupFlags& flags) {
  using Answer = base::Result<http::Response>;
  Answer response =
      http::RunBlocking<Answer>([&](asio::any_io_executor executor) -> asio::awaitable<Answer> {
        TRELLIS_CO_TRY(auto client, CenterClient(executor, flags));
        co_return co_await client.Call(http::beast_http::verb::get, "/v1/dump", "",
                                       std::chrono::minutes(10));
      });
  if (!response) {
    return response.error();
  }
  if (response->status >= 400) {
    return http::JsonOf(*response, "the dump").error();
  }
  const std::string partial = flags.file + ".partial";
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    out.write(response->body.data(), static_cast<std::streamsize>(response->body.size()));
    if (!out.flush()) {
      return base::Error{flags.file + ": cannot write"};
    }
  }
  std::error_code error;
  std::filesystem::rename(partial, flags.file, error);
  if (error) {
    return base::Error{flags.file + ": " + error.message()};
  }
  fmt::print("dumped the cluster to {} ({} bytes)\n", flags.file, response->body.size());
  return {};
}

// `trellis backup load`: every item of --in written through the access node.
base::Status Load(const BackupFlags& flags) {
  std::ifstream in(flags.file, std::ios::binary);
  if (!in) {
    return base::InvalidArgument(flags.file + ": cannot read");
  }
  const std::string bytes{std::istreambuf_iterator<char>(in), {}};
  auto plan = backup::DecodeClusterDump(bytes, base::CoarseUnixSeconds());
  if (!plan) {
    return base::WithContext(flags.file, plan.error());
  }
  const auto started = std::chrono::steady_clock::now();
  base::Status written =
      http::RunBlocking<base::Status>([&](asio::any_io_executor) -> asio::awaitable<base::Status> {
        co_return co_await backup::WriteThroughAccess(flags.access, *plan, {});
      });
  if (!written) {
    return written.error();
  }
  fmt::print("loaded {} items into the cluster behind {} in {:.1f} s\n", plan->sets.size(),
             flags.access,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return {};
}

int RunBackup(CLI::App& app, const std::string& action, const BackupFlags& flags) {
  if (action == "dump" || action == "load") {
    const base::Status done = action == "dump" ? Dump(flags) : Load(flags);
    return done ? 0 : daemon::Fail(app, done.error());
  }
  using Answer = base::Result<nlohmann::json>;
  Answer reply =
      http::RunBlocking<Answer>([&](asio::any_io_executor executor) -> asio::awaitable<Answer> {
        TRELLIS_CO_TRY(auto client, CenterClient(executor, flags));
        if (action == "list") {
          const nlohmann::json no_body;
          co_return co_await http::CallJson(client, http::beast_http::verb::get, "/v1/backup",
                                            no_body, std::chrono::seconds(30));
        }
        uint32_t to = 0;
        if (!flags.resume) {
          TRELLIS_CO_TRY(to, backup::ParseTime(flags.to, base::CoarseUnixSeconds()));
        }
        const nlohmann::json request = backup::ToJson(backup::RestoreRequest{
            to, flags.dry_run, flags.group, flags.rate, flags.wait, flags.resume});
        co_return co_await http::CallJson(client, http::beast_http::verb::post, "/v1/restore",
                                          request, std::chrono::hours(1));
      });
  if (!reply) {
    return daemon::Fail(app, reply.error());
  }
  if (flags.json) {
    fmt::print("{}\n", reply->dump());
    return 0;
  }
  if (action == "list") {
    auto status = backup::ParseBackupStatus(*reply);
    if (!status) {
      return daemon::Fail(app, status.error());
    }
    PrintStatus(*status);
    return 0;
  }
  auto restored = backup::ParseRestoreReply(*reply);
  if (!restored) {
    return daemon::Fail(app, restored.error());
  }
  const std::string what =
      fmt::format("{}{}", Time(restored->to),
                  restored->group.empty() ? "" : " (the keys of group " + restored->group + ")");
  if (restored->state == "writing") {
    fmt::print(
        "restoring to {}: {} keys to restore, {} to delete ({} unchanged); writing in the "
        "background: `trellis backup list` shows how far it got\n",
        what, restored->restored, restored->deleted, restored->unchanged);
    return 0;
  }
  fmt::print("{} to {}: {} keys restored, {} deleted, {} unchanged, in {:.1f} s\n",
             restored->dry_run ? "would restore" : "restored", what, restored->restored,
             restored->deleted, restored->unchanged, restored->seconds);
  return 0;
}

}  // namespace

Command AddBackupCenterCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand(
      "backup-center",
      "run the backup center: archives every group's changes (segments and dumps under "
      "--data) and restores the cluster to any second it holds");
  auto flags = std::make_shared<BackupCenterFlags>();
  daemon::AddDaemonFlags(*app, flags->daemon, "127.0.0.1:0");
  app->add_option("--listen", flags->listen, "HOST:PORT of its HTTP/JSON API")
      ->capture_default_str();
  app->add_option("--data", flags->data, "directory of the archive (a directory per group)")
      ->capture_default_str();
  daemon::AddServiceMasterFlags(*app, flags->master);
  app->add_option("--access", flags->access,
                  "HOST:PORT of the access node that restores write through")
      ->capture_default_str();
  daemon::AddDurationFlag(*app,
                          {"--segment", "the time a segment spans before it is sealed",
                           std::chrono::seconds(1), std::chrono::hours(24)},
                          flags->segment);
  daemon::AddDurationFlag(*app,
                          {"--dump-every",
                           "time between full dumps of each group (a restore replays from the "
                           "newest dump before its time)",
                           std::chrono::seconds(1), std::chrono::hours(24 * 30)},
                          flags->dump_every);
  daemon::AddDurationFlag(*app,
                          {"--retain",
                           "how far back the archive stays restorable; older files no restorable "
                           "second needs are removed after each dump",
                           std::chrono::seconds(1), std::chrono::hours(24 * 3650)},
                          flags->retain);
  return {app, [app, flags] {
            return daemon::RunDaemon(*app, flags->daemon,
                                     {"backup-center", false, [&flags](daemon::Daemon& d) {
                                        return RunBackupCenter(d, *flags);
                                      }});
          }};
}

Command AddBackupCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand(
      "backup", "look at the backup center's archive and restore the cluster to a point in time");
  app->require_subcommand(1);
  app->fallthrough();
  auto flags = std::make_shared<BackupFlags>();
  app->add_option("--center", flags->center,
                  "http://HOST:PORT of the backup center (default: the one `trellis up` "
                  "started from this directory)");
  app->add_option("--data", flags->data, "the data directory of `trellis up`")
      ->capture_default_str();
  daemon::AddOperatorTokenFlag(*app, flags->token_file);
  app->add_flag("--json", flags->json, "print the backup center's JSON reply");
  auto action = std::make_shared<std::string>();
  app->add_subcommand("list", "what each group's archive holds: restorable ranges, gaps, files")
      ->callback([action] { *action = "list"; });
  CLI::App* restore = app->add_subcommand(
      "restore", "bring the live cluster back to its state at --to (through the access node)");
  CLI::Option* to = restore->add_option(
      "--to", flags->to, "unix seconds, -30s/-5m/-2h/-1d, or RFC 3339 (2026-12-04T10:00:00Z)");
  restore->add_flag("--dry-run", flags->dry_run, "count what would change, write nothing");
  restore->add_option("--group", flags->group,
                      "restore only the keys of the slots this group holds now");
  restore->add_option("--rate", flags->rate, "write at most this many keys a second (0: no limit)")
      ->capture_default_str();
  restore->add_flag("--wait", flags->wait,
                    "return once every key is written (else once planned: the center writes in "
                    "the background)");
  CLI::Option* resume = restore->add_flag(
      "--resume", flags->resume,
      "run the interrupted (or failed) restore again, with its own time, group and rate");
  to->excludes(resume);
  restore->callback([action, to, resume] {
    *action = "restore";
    if (to->count() == 0 && resume->count() == 0) {
      throw CLI::RequiredError("--to (or --resume)");
    }
  });

  CLI::App* dump = app->add_subcommand(
      "dump", "write every item of the cluster (as the archive holds it now) to one file");
  dump->add_option("--out", flags->file, "the file to write")->required();
  dump->callback([action] { *action = "dump"; });
  CLI::App* load = app->add_subcommand(
      "load",
      "write every item of a dump file into a cluster (of any shape) through an access node");
  load->add_option("--in", flags->file, "the dump file")->required();
  load->add_option("--access", flags->access, "HOST:PORT of the access node")
      ->capture_default_str();
  load->callback([action] { *action = "load"; });
  return {app, [app, action, flags] { return RunBackup(*app, *action, *flags); }};
}

}  // namespace trellis::cli
