#include "db/binlog_archiver.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "db/backup_files.h"
#include "db/file_compression.h"

namespace trellis::db {
namespace {

constexpr const char* kChildName = "binlog-archive";
// The replica id the copying presents to the primary: none of the servers' (1, 2, ...).
// A second connection with the same id makes the primary drop the first, so that a copy
// started again never runs beside a stale one.
constexpr int kArchiveServerId = 1000000;
constexpr std::chrono::seconds kStopGrace{5};

// A binary log file's name as an SQL string (the server's own names: letters, digits,
// '.', '-', '_').
std::string QuotedName(const std::string& name) { return "'" + name + "'"; }

}  // namespace

BinlogArchiver::BinlogArchiver(std::filesystem::path backups, std::filesystem::path tool_options,
                               daemon::Supervisor& children)
    : backups_(std::move(backups)), tool_options_(std::move(tool_options)), children_(children) {}

base::Status BinlogArchiver::BeginEra(const InstancePlan& primary, SqlClient& client,
                                      const std::string& since) {
  TRELLIS_TRY(std::vector<ArchiveEra> eras, ReadEras(backups_));
  if (!eras.empty() && eras.back().server == primary.name) {
    return {};
  }
  TRELLIS_TRY(const SqlResult logs, client.Execute("SHOW BINARY LOGS"));
  const std::optional<std::string> first = logs.First("Log_name");
  if (!first) {
    return base::Unavailable(primary.name + " has no binary log");
  }
  // Where the server's first file starts (after its 4-byte header); NULL if unknown: then
  // the copy is taken to start at `since`.
  TRELLIS_TRY(const SqlResult start,
              client.Execute("SELECT BINLOG_GTID_POS(" + QuotedName(*first) + ", 4) AS start"));
  eras.push_back({fmt::format("{}-{}", eras.size() + 1, primary.name), primary.name, since,
                  start.First("start").value_or(since)});
  return WriteEras(backups_, eras);
}

base::Status BinlogArchiver::Follow(const InstancePlan& primary, SqlClient& client,
                                    const std::string& since) {
  TRELLIS_TRY_STATUS(BeginEra(primary, client, since));
  TRELLIS_TRY(std::vector<ArchiveEra> eras, ReadEras(backups_));
  TRELLIS_TRY(const SqlResult logs, client.Execute("SHOW BINARY LOGS"));
  const std::optional<std::string> first_on_server = logs.First("Log_name");
  if (!first_on_server) {
    return base::Unavailable(primary.name + " has no binary log");
  }
  // The era goes on from the newest file copied (copied again whole) if the server still
  // has it; a new one starts with the server's first file.
  std::string first = *first_on_server;
  const std::vector<std::filesystem::path> copied = EraFiles(EraPath(backups_, eras.back()));
  std::filesystem::path newest = copied.empty() ? "" : copied.back().filename();
  if (newest.extension() == kCompressedSuffix) {
    newest = newest.stem();
  }
  for (const auto& row : logs.rows) {
    if (!newest.empty() && !row.empty() && row[0] == newest.string()) {
      first = *row[0];
    }
  }
  const std::filesystem::path dir = EraPath(backups_, eras.back());
  std::error_code made;
  std::filesystem::create_directories(dir, made);
  if (made) {
    return base::InvalidArgument(dir.string() + ": " + made.message());
  }
  children_.Remove(kChildName, kStopGrace);
  TRELLIS_TRY_STATUS(children_.Add(
      {{kChildName,
        {"--defaults-file=" + tool_options_.string(),
         "--host=" + primary.listen.address().to_string(),
         "--port=" + std::to_string(primary.listen.port()), "--read-from-remote-server", "--raw",
         "--stop-never", fmt::format("--stop-never-slave-server-id={}", kArchiveServerId),
         "--result-file=" + dir.string() + "/", first},
        {},
        kMariadbBinlog}},
      std::chrono::milliseconds(0)));
  spdlog::info("archiving {}'s binary log from {} into {}", primary.name, first, dir.string());
  return {};
}

}  // namespace trellis::db
