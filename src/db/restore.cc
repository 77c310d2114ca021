#include "db/restore.h"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <thread>

#include "base/file.h"
#include "daemon/program.h"
#include "db/backup_files.h"
#include "db/backup_scheduler.h"
#include "db/binlog_archiver.h"
#include "db/file_compression.h"
#include "db/instance_setup.h"

namespace trellis::db {
namespace {

constexpr const char* kMariadbClient = "/usr/bin/mariadb";
constexpr const char* kRestoreUser = "trellis_restore";
constexpr std::chrono::seconds kServerPatience{120};
constexpr std::chrono::seconds kShutdownGrace{120};

// A private directory under /tmp for the server's socket (whose path must be short),
// its files and the replay; removed with everything in it.
class ScratchDir {
 public:
  static base::Result<ScratchDir> Make() {
    std::string pattern = "/tmp/trellis-restore-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      return base::SystemError("mkdtemp");
    }
    return ScratchDir(pattern);
  }
  ScratchDir(ScratchDir&& other) noexcept : path_(std::exchange(other.path_, {})) {}
  ScratchDir& operator=(ScratchDir&&) = delete;
  ~ScratchDir() {
    if (!path_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(path_, ignored);
    }
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  explicit ScratchDir(std::filesystem::path path) : path_(std::move(path)) {}
  std::filesystem::path path_;
};

bool Accepts(const std::filesystem::path& socket_path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket_path.c_str(), sizeof(address.sun_path) - 1);
  const bool connected =
      ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return connected;
}

base::Status MakeEmptyDirectory(const std::filesystem::path& dir) {
  std::error_code error;
  if (std::filesystem::exists(dir, error) && !std::filesystem::is_empty(dir, error)) {
    return base::Conflict(dir.string() + " is not empty: restore into a new directory");
  }
  std::filesystem::create_directories(dir, error);
  if (error) {
    return base::InvalidArgument(dir.string() + ": " + error.message());
  }
  return {};
}

base::Status CopyBackup(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::error_code error;
  std::filesystem::copy(from, to, std::filesystem::copy_options::recursive, error);
  if (error) {
    return base::InvalidArgument("copying " + from.string() + ": " + error.message());
  }
  std::filesystem::remove(to / kBackupRecordFile, error);
  return {};
}

// Copies the chain's full backup into `into` and prepares it with each incremental. Each
// is prepared from a copy in `work`: preparing moves an incremental's page files away.
base::Status PrepareChain(const std::filesystem::path& backups,
                          const std::vector<BackupRecord>& chain, const std::filesystem::path& into,
                          const std::filesystem::path& work, const std::filesystem::path& log) {
  TRELLIS_TRY_STATUS(CopyBackup(backups / chain.front().name, into));
  TRELLIS_TRY_STATUS(daemon::RunProgram(
      {kMariadbBackup, {"--prepare", "--target-dir=" + into.string()}, log, {}, {}}));
  for (size_t i = 1; i < chain.size(); ++i) {
    const std::filesystem::path copy = work / chain[i].name;
    TRELLIS_TRY_STATUS(CopyBackup(backups / chain[i].name, copy));
    TRELLIS_TRY_STATUS(daemon::RunProgram(
        {kMariadbBackup,
         {"--prepare", "--target-dir=" + into.string(), "--incremental-dir=" + copy.string()},
         log,
         {},
         {}}));
    std::error_code ignored;
    std::filesystem::remove_all(copy, ignored);
  }
  return {};
}

// `files` as mariadb-binlog can read them: each compressed one decompressed into `dir`
// (made, and emptied first).
base::Result<std::vector<std::filesystem::path>> Unpacked(
    const std::vector<std::filesystem::path>& files, const std::filesystem::path& dir) {
  std::error_code error;
  std::filesystem::remove_all(dir, error);
  std::filesystem::create_directories(dir, error);
  if (error) {
    return base::InvalidArgument(dir.string() + ": " + error.message());
  }
  std::vector<std::filesystem::path> readable;
  for (const std::filesystem::path& file : files) {
    if (file.extension() != kCompressedSuffix) {
      readable.push_back(file);
      continue;
    }
    readable.push_back(dir / file.stem());
    TRELLIS_TRY_STATUS(DecompressFile(file, readable.back()));
  }
  return readable;
}

std::vector<std::string> ServerArgs(const std::filesystem::path& into,
                                    const std::filesystem::path& scratch) {
  std::vector<std::string> args = {
      "--no-defaults",
      "--datadir=" + std::filesystem::absolute(into).string(),
      "--socket=" + (scratch / "server.sock").string(),
      "--pid-file=" + (scratch / "server.pid").string(),
      "--tmpdir=" + scratch.string(),
      "--init-file=" + (scratch / "init.sql").string(),
      "--skip-networking",
      "--skip-log-bin",
      "--skip-slave-start",
      "--performance-schema=OFF",
      "--innodb-buffer-pool-size=256M",
      "--max-allowed-packet=1G",
      // Nothing here needs to survive a crash (the restore would be made again), and the
      // clean shutdown at the end writes everything: no flush at each replayed commit
      // (measured: bench/RESULTS.md).
      "--innodb-flush-log-at-trx-commit=0",
  };
  if (::geteuid() == 0) {
    args.push_back("--user=root");
  }
  return args;
}

// Prepares the chain into `into` and replays the archive onto it, its work in `work`
// (beside `into`: on its file system, not /tmp's) and the tools' output in
// `outcome.log`.
base::Status Build(const RestoreRequest& request, const RestoreOutcome& outcome,
                   const std::filesystem::path& into, const std::filesystem::path& work) {
  TRELLIS_TRY(const ScratchDir scratch, ScratchDir::Make());
  TRELLIS_TRY_STATUS(PrepareChain(request.backups, outcome.chain, into, work, outcome.log));

  // A server of the restore's own, with an account of its own made at its start.
  TRELLIS_TRY(const std::string password, RandomSecret());
  const std::string account = fmt::format("'{}'@'localhost'", kRestoreUser);
  TRELLIS_TRY_STATUS(
      base::ReplaceSecretFile(scratch.path() / "init.sql",
                              fmt::format("CREATE USER IF NOT EXISTS {0} IDENTIFIED BY '{1}';\n"
                                          "ALTER USER {0} IDENTIFIED BY '{1}';\n"
                                          "GRANT ALL PRIVILEGES ON *.* TO {0} WITH GRANT OPTION;\n",
                                          account, password)));
  const std::filesystem::path socket_path = scratch.path() / "server.sock";
  TRELLIS_TRY_STATUS(base::ReplaceSecretFile(
      scratch.path() / "client.cnf", fmt::format("[client]\nuser={}\npassword={}\nsocket={}\n",
                                                 kRestoreUser, password, socket_path.string())));
  TRELLIS_TRY(daemon::StartedProgram server,
              daemon::StartedProgram::Start(
                  {kMariadbd, ServerArgs(into, scratch.path()), outcome.log, {}, {}}));
  const auto deadline = std::chrono::steady_clock::now() + kServerPatience;
  while (!Accepts(socket_path)) {
    if (server.Exited() || std::chrono::steady_clock::now() >= deadline) {
      return base::Unavailable("the restore's server did not start");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const std::string client_options = "--defaults-file=" + (scratch.path() / "client.cnf").string();
  const std::filesystem::path replay = work / "replay.sql";
  for (const ReplaySpan& span : outcome.replayed) {
    TRELLIS_TRY(const std::vector<std::filesystem::path> files,
                Unpacked(EraFiles(request.backups / kArchiveDir / span.dir), work / "binlog"));
    if (files.empty()) {
      continue;
    }
    std::vector<std::string> args = {"--no-defaults", "--result-file=" + replay.string(),
                                     "--stop-datetime=" + FormatUtcTime(request.time)};
    if (!span.start.empty()) {
      args.push_back("--start-position=" + span.start);
    }
    if (!span.stop.empty()) {
      args.push_back("--stop-position=" + span.stop);
    }
    for (const auto& file : files) {
      args.push_back(file.string());
    }
    // --stop-datetime is read in the local time zone: UTC here.
    TRELLIS_TRY_STATUS(daemon::RunProgram({kMariadbBinlog, args, outcome.log, {}, {"TZ=UTC"}}));
    TRELLIS_TRY_STATUS(daemon::RunProgram(
        {kMariadbClient, {client_options, "--binary-mode"}, outcome.log, replay, {}}));
  }
  TRELLIS_TRY_STATUS(
      daemon::RunProgram({kMariadbClient,
                          {client_options, "--execute=DROP USER " + account + "; SHUTDOWN"},
                          outcome.log,
                          {},
                          {}}));
  if (!server.Stop(kShutdownGrace)) {
    return base::Unavailable("the restore's server did not shut down cleanly");
  }
  return {};
}

}  // namespace

base::Result<RestoreOutcome> Restore(const RestoreRequest& request) {
  RestoreOutcome outcome;
  TRELLIS_TRY(const std::vector<BackupRecord> backups, ReadBackups(request.backups));
  TRELLIS_TRY(outcome.chain, ChainFor(backups, request.time));
  TRELLIS_TRY(const std::vector<ArchiveEra> eras, ReadEras(request.backups));
  const auto position = proto::mysql::ParseGtidPosition(outcome.chain.back().position);
  if (!position) {
    return base::InvalidArgument(outcome.chain.back().name + ": its position does not parse");
  }
  TRELLIS_TRY(outcome.replayed, ReplayAfter(eras, *position));
  // "/x/new/" and "/x/new" alike: the work and the log go beside it, never in it.
  std::filesystem::path into = std::filesystem::absolute(request.into).lexically_normal();
  if (into.filename().empty()) {
    into = into.parent_path();
  }
  TRELLIS_TRY_STATUS(MakeEmptyDirectory(into));
  outcome.log = into.string() + ".restore.log";
  const std::filesystem::path work = into.string() + ".restore";
  std::error_code ignored;
  std::filesystem::remove_all(work, ignored);  // A failed run's.
  std::filesystem::create_directories(work, ignored);
  const base::Status built = Build(request, outcome, into, work);
  std::filesystem::remove_all(work, ignored);
  if (!built) {
    // Nothing half made is left for a server to start on.
    std::filesystem::remove_all(into, ignored);
    std::filesystem::create_directories(into, ignored);
    return base::Unavailable(fmt::format("{} (what it had made is removed); see {}",
                                         built.error().message, outcome.log.string()));
  }
  return outcome;
}

}  // namespace trellis::db
