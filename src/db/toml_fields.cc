#include "db/toml_fields.h"

#include <fmt/format.h>

namespace trellis::db {

std::string At(const toml::node& node) { return fmt::format("line {}", node.source().begin.line); }

base::Result<std::string> ReadString(const toml::node& node, std::string_view key) {
  const toml::value<std::string>* value = node.as_string();
  if (value == nullptr) {
    return base::InvalidArgument(fmt::format("{}: {} must be a string", At(node), key));
  }
  return value->get();
}

namespace {

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

base::Result<std::vector<ProxyUser>> ReadUsers(const toml::node& node) {
  const toml::array* array = node.as_array();
  if (array == nullptr) {
    return base::InvalidArgument(At(node) + ": user must be written [[user]]");
  }
  std::vector<ProxyUser> users;
  for (const toml::node& entry : *array) {
    TRELLIS_TRY(ProxyUser user, ReadUser(entry));
    for (const ProxyUser& earlier : users) {
      if (earlier.name == user.name) {
        return base::InvalidArgument(
            fmt::format("{}: user \"{}\" is given twice", At(entry), user.name));
      }
    }
    users.push_back(std::move(user));
  }
  return users;
}

base::Result<toml::table> ParseToml(std::string_view text) {
  try {
    return toml::parse(text);
  } catch (const toml::parse_error& error) {
    return base::InvalidArgument(
        fmt::format("line {}: {}", error.source().begin.line, error.description()));
  }
}

}  // namespace trellis::db
