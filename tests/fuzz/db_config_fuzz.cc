// libFuzzer target for CDB's file readers and the manager's topology reader; the first
// byte picks which, the rest is its input:
//   0  the dbproxy's file (dbproxy_config.h): refused with a message, or a server or a
//      manager (one of the two), a cap within its bounds and users with names.
//   1  `trellis db`'s file (cluster_config.h): refused with a message, or instances with
//      valid, distinct names and addresses, and users with names.
//   2  the topology JSON (topology.h): refused with a message, or a value that
//      serialises and parses back to itself.
//   3  the backup directory's files (backup_catalog.h): a backup record and the archive's
//      eras as JSON (each refused with a message or read back to itself), mariadb-backup's
//      binlog info, and a restore time (refused, or one that formats back to its text).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "db/backup_catalog.h"
#include "db/cluster_config.h"
#include "db/dbproxy_config.h"
#include "db/topology.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

void FuzzProxyConfig(std::string_view text) {
  const auto config = trellis::db::ParseDbProxyConfig(text);
  if (!config.ok()) {
    Check(!config.error().message.empty());
    return;
  }
  Check(config->primary.empty() != config->manager.empty());
  Check(!config->replica_reads || !config->manager.empty());
  Check(config->max_backend_connections >= 1 && config->max_backend_connections <= 100000);
  for (const auto& user : config->users) {
    Check(!user.name.empty() && config->FindUser(user.name) == &user);
  }
}

void FuzzClusterConfig(std::string_view text) {
  const auto config = trellis::db::ParseDbClusterConfig(text);
  if (!config.ok()) {
    Check(!config.error().message.empty());
    return;
  }
  Check(!config->instances.empty());
  for (size_t i = 0; i < config->instances.size(); ++i) {
    const auto& instance = config->instances[i];
    Check(!instance.name.empty() && !instance.listen.empty());
    Check(instance.name.find('/') == std::string_view::npos && instance.name != "..");
    for (size_t j = 0; j < i; ++j) {
      Check(config->instances[j].name != instance.name);
      Check(config->instances[j].listen != instance.listen);
    }
  }
  for (const auto& user : config->users) {
    Check(!user.name.empty());
  }
}

void FuzzTopology(std::string_view text) {
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  const auto topology = trellis::db::ParseDbTopology(json);
  if (!topology.ok()) {
    Check(!topology.error().message.empty());
    return;
  }
  const auto again = trellis::db::ParseDbTopology(trellis::db::ToJson(*topology));
  Check(again.ok() && *again == *topology);
}

void FuzzBackupFiles(std::string_view text) {
  namespace db = trellis::db;
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  if (const auto record = db::ParseBackupRecord(json); record.ok()) {
    const auto again = db::ParseBackupRecord(db::ToJson(*record));
    Check(again.ok() && *again == *record);
  } else {
    Check(!record.error().message.empty());
  }
  if (const auto eras = db::ParseArchiveEras(json); eras.ok()) {
    const auto again = db::ParseArchiveEras(db::ToJson(*eras));
    Check(again.ok() && *again == *eras);
    Check(db::ReplayAfter(*eras, {}).ok());
  }
  if (const auto info = db::ParseBinlogInfo(text); info.ok()) {
    Check(!info->file.empty());
  }
  if (const auto time = db::ParseRestoreTime(text); time.ok()) {
    const std::string formatted = db::FormatUtcTime(*time);
    Check(formatted == text ||
          formatted == std::string(text.substr(0, 10)) + " " + std::string(text.substr(11, 8)));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      FuzzProxyConfig(input);
      break;
    case 1:
      FuzzClusterConfig(input);
      break;
    case 2:
      FuzzTopology(input);
      break;
    default:
      FuzzBackupFiles(input);
      break;
  }
  return 0;
}
