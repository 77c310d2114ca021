#include "db/dbproxy_config.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <string>

#include "db/toml_fields.h"

namespace trellis::db {

const ProxyUser* DbProxyConfig::FindUser(std::string_view name) const {
  for (const ProxyUser& user : users) {
    if (user.name == name) {
      return &user;
    }
  }
  return nullptr;
}

base::Result<DbProxyConfig> ParseDbProxyConfig(std::string_view text) {
  TRELLIS_TRY(const toml::table table, ParseToml(text));
  DbProxyConfig config;
  for (const auto& [key, value] : table) {
    if (key == "primary") {
      TRELLIS_TRY(config.primary, ReadString(value, "primary"));
    } else if (key == "manager") {
      TRELLIS_TRY(config.manager, ReadString(value, "manager"));
    } else if (key == "max_backend_connections") {
      const toml::value<int64_t>* number = value.as_integer();
      if (number == nullptr || number->get() < 1 || number->get() > 100000) {
        return base::InvalidArgument(
            At(value) + ": max_backend_connections must be an integer from 1 to 100000");
      }
      config.max_backend_connections = static_cast<size_t>(number->get());
    } else if (key == "replica_reads") {
      const toml::value<bool>* flag = value.as_boolean();
      if (flag == nullptr) {
        return base::InvalidArgument(At(value) + ": replica_reads must be true or false");
      }
      config.replica_reads = flag->get();
    } else if (key == "max_replica_lag") {
      const toml::value<int64_t>* seconds = value.as_integer();
      if (seconds == nullptr || seconds->get() < 0 || seconds->get() > 86400) {
        return base::InvalidArgument(
            At(value) + ": max_replica_lag must be a number of seconds from 0 to 86400");
      }
      config.max_replica_lag_seconds = static_cast<uint64_t>(seconds->get());
    } else if (key == "user") {
      TRELLIS_TRY(config.users, ReadUsers(value));
    } else {
      return base::InvalidArgument(fmt::format(
          "{}: unknown key \"{}\" (primary, manager, max_backend_connections, replica_reads, "
          "max_replica_lag, [[user]])",
          At(value), key.str()));
    }
  }
  if (config.primary.empty() == config.manager.empty()) {
    return base::InvalidArgument(
        "primary or manager: either the database server's HOST:PORT or the URL of the "
        "`trellis db` that says which server is the primary is needed, not both");
  }
  if (config.replica_reads && config.manager.empty()) {
    return base::InvalidArgument(
        "replica_reads: needs a manager, which says where the replicas are and how far behind");
  }
  return config;
}

}  // namespace trellis::db
