#include "db/dbproxy_config.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <string>

namespace trellis::db {
namespace {

std::string At(const toml::node& node) { return fmt::format("line {}", node.source().begin.line); }

base::Result<std::string> ReadString(const toml::node& node, std::string_view key) {
  const toml::value<std::string>* value = node.as_string();
  if (value == nullptr) {
    return base::InvalidArgument(fmt::format("{}: {} must be a string", At(node), key));
  }
  return value->get();
}

base::Result<ProxyUser> ReadUser(const toml::node& node) {
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    return base::InvalidArgument(At(node) + ": [[user]] must be a table");
  }
  ProxyUser user;
  bool has_password = false;
  for (const auto& [key, value] : *table) {
    if (key == "name") {
      TRELLIS_TRY(user.name, ReadString(value, "name"));
    } else if (key == "password") {
      TRELLIS_TRY(const std::string password, ReadString(value, "password"));
      if (password.empty()) {
        return base::InvalidArgument(At(value) + ": password must not be empty");
      }
      // "*" and 40 hex digits is a hash; anything else the password itself.
      const auto stored = proto::mysql::ParseStoredHash(password);
      user.stored_hash =
          stored ? *stored : proto::mysql::StoredHash(proto::mysql::PasswordSha1(password));
      has_password = true;
    } else {
      return base::InvalidArgument(
          fmt::format("{}: unknown key \"{}\" in [[user]] (name, password)", At(value), key.str()));
    }
  }
  if (user.name.empty() || !has_password) {
    return base::InvalidArgument(At(node) + ": a [[user]] needs a name and a password");
  }
  return user;
}

}  // namespace

const ProxyUser* DbProxyConfig::FindUser(std::string_view name) const {
  for (const ProxyUser& user : users) {
    if (user.name == name) {
      return &user;
    }
  }
  return nullptr;
}

base::Result<DbProxyConfig> ParseDbProxyConfig(std::string_view text) {
  toml::table table;
  try {
    table = toml::parse(text);
  } catch (const toml::parse_error& error) {
    return base::InvalidArgument(
        fmt::format("line {}: {}", error.source().begin.line, error.description()));
  }
  DbProxyConfig config;
  for (const auto& [key, value] : table) {
    if (key == "primary") {
      TRELLIS_TRY(config.primary, ReadString(value, "primary"));
    } else if (key == "max_backend_connections") {
      const toml::value<int64_t>* number = value.as_integer();
      if (number == nullptr || number->get() < 1 || number->get() > 100000) {
        return base::InvalidArgument(
            At(value) + ": max_backend_connections must be an integer from 1 to 100000");
      }
      config.max_backend_connections = static_cast<size_t>(number->get());
    } else if (key == "user") {
      const toml::array* users = value.as_array();
      if (users == nullptr) {
        return base::InvalidArgument(At(value) + ": user must be written [[user]]");
      }
      for (const toml::node& node : *users) {
        TRELLIS_TRY(ProxyUser user, ReadUser(node));
        if (config.FindUser(user.name) != nullptr) {
          return base::InvalidArgument(
              fmt::format("{}: user \"{}\" is given twice", At(node), user.name));
        }
        config.users.push_back(std::move(user));
      }
    } else {
      return base::InvalidArgument(
          fmt::format("{}: unknown key \"{}\" (primary, max_backend_connections, [[user]])",
                      At(value), key.str()));
    }
  }
  if (config.primary.empty()) {
    return base::InvalidArgument("primary: the database server's HOST:PORT is needed");
  }
  return config;
}

}  // namespace trellis::db
