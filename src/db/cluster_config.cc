#include "db/cluster_config.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/duration.h"
#include "db/toml_fields.h"

namespace trellis::db {
namespace {

bool IsInstanceName(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

base::Result<DbInstanceConfig> ReadInstance(const toml::node& node) {
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    return base::InvalidArgument(At(node) + ": [[instance]] must be a table");
  }
  DbInstanceConfig instance;
  for (const auto& [key, value] : *table) {
    if (key == "name") {
      TRELLIS_TRY(instance.name, ReadString(value, "name"));
      if (!IsInstanceName(instance.name)) {
        return base::InvalidArgument(At(value) +
                                     ": name must be 1 to 64 letters, digits, '-' or '_'");
      }
    } else if (key == "listen") {
      TRELLIS_TRY(instance.listen, ReadString(value, "listen"));
    } else {
      return base::InvalidArgument(fmt::format(
          "{}: unknown key \"{}\" in [[instance]] (name, listen)", At(value), key.str()));
    }
  }
  if (instance.name.empty() || instance.listen.empty()) {
    return base::InvalidArgument(At(node) + ": an [[instance]] needs a name and listen");
  }
  return instance;
}

base::Result<std::chrono::milliseconds> ReadEvery(const toml::node& value, std::string_view key) {
  TRELLIS_TRY(const std::string text, ReadString(value, key));
  auto duration = base::ParseDuration(text);
  if (!duration) {
    return base::InvalidArgument(At(value) + ": " + std::string(key) + ": " +
                                 duration.error().message);
  }
  return *duration;
}

base::Result<DbBackupConfig> ReadBackup(const toml::node& node) {
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    return base::InvalidArgument(At(node) + ": backup must be a table, [backup]");
  }
  DbBackupConfig backup;
  for (const auto& [key, value] : *table) {
    if (key == "dir") {
      TRELLIS_TRY(backup.dir, ReadString(value, "dir"));
      if (backup.dir.empty()) {
        return base::InvalidArgument(At(value) + ": dir must not be empty");
      }
    } else if (key == "full_every") {
      TRELLIS_TRY(backup.full_every, ReadEvery(value, "full_every"));
    } else if (key == "incremental_every") {
      TRELLIS_TRY(backup.incremental_every, ReadEvery(value, "incremental_every"));
    } else if (key == "keep_full") {
      const std::optional<int64_t> keep = value.value<int64_t>();
      if (!keep || *keep < 1 || *keep > 1000) {
        return base::InvalidArgument(At(value) + ": keep_full must be a number from 1 to 1000");
      }
      backup.keep_full = static_cast<size_t>(*keep);
    } else {
      return base::InvalidArgument(fmt::format(
          "{}: unknown key \"{}\" in [backup] (dir, full_every, incremental_every, keep_full)",
          At(value), key.str()));
    }
  }
  return backup;
}

}  // namespace

base::Result<DbClusterConfig> ParseDbClusterConfig(std::string_view text) {
  TRELLIS_TRY(const toml::table table, ParseToml(text));
  DbClusterConfig config;
  for (const auto& [key, value] : table) {
    if (key == "instance") {
      const toml::array* instances = value.as_array();
      if (instances == nullptr) {
        return base::InvalidArgument(At(value) + ": instance must be written [[instance]]");
      }
      for (const toml::node& node : *instances) {
        TRELLIS_TRY(DbInstanceConfig instance, ReadInstance(node));
        for (const DbInstanceConfig& earlier : config.instances) {
          if (earlier.name == instance.name || earlier.listen == instance.listen) {
            return base::InvalidArgument(
                fmt::format("{}: instance \"{}\" has the name or address of \"{}\"", At(node),
                            instance.name, earlier.name));
          }
        }
        config.instances.push_back(std::move(instance));
      }
    } else if (key == "user") {
      TRELLIS_TRY(config.users, ReadUsers(value));
    } else if (key == "backup") {
      TRELLIS_TRY(config.backup, ReadBackup(value));
    } else {
      return base::InvalidArgument(fmt::format(
          "{}: unknown key \"{}\" ([[instance]], [[user]], [backup])", At(value), key.str()));
    }
  }
  if (config.instances.empty()) {
    return base::InvalidArgument("[[instance]]: at least one MariaDB server is needed");
  }
  return config;
}

}  // namespace trellis::db
