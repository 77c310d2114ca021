#include "base/config.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <fstream>
#include <sstream>

#include <CLI/CLI.hpp>

namespace trellis::base {
namespace {

// The key being defined on `line_no` of `text`, or "" when the line holds no `key =`.
std::string KeyOnLine(const std::string& text, int line_no) {
  std::istringstream in(text);
  std::string line;
  for (int i = 1; std::getline(in, line); ++i) {
    if (i != line_no) {
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string::npos) {
      return "";
    }
    const size_t begin = line.find_first_not_of(" \t");
    const size_t end = line.find_last_not_of(" \t", eq - 1);
    if (begin == std::string::npos || end == std::string::npos || begin > end) {
      return "";
    }
    return line.substr(begin, end - begin + 1);
  }
  return "";
}

Result<std::string> ScalarToString(const toml::node& node) {
  if (auto s = node.as_string()) {
    return s->get();
  }
  if (auto i = node.as_integer()) {
    return std::to_string(i->get());
  }
  if (auto f = node.as_floating_point()) {
    return fmt::format("{}", f->get());
  }
  if (auto b = node.as_boolean()) {
    return std::string(b->get() ? "true" : "false");
  }
  return InvalidArgument("expected a string, number or boolean");
}

// Walks `table`, flattening nested tables into dotted keys.
Status Flatten(const toml::table& table, const std::string& prefix, const std::string& path,
               std::vector<ConfigEntry>& out) {
  for (const auto& [name, node] : table) {
    const std::string key = prefix + std::string(name.str());
    const int line = static_cast<int>(node.source().begin.line);
    if (const toml::table* nested = node.as_table()) {
      if (Status s = Flatten(*nested, key + ".", path, out); !s) {
        return s;
      }
      continue;
    }
    ConfigEntry entry{key, {}, line};
    if (const toml::array* array = node.as_array()) {
      for (const toml::node& item : *array) {
        Result<std::string> value = ScalarToString(item);
        if (!value) {
          return InvalidArgument(
              fmt::format("{}:{}: key '{}': {}", path, line, key, value.error().message));
        }
        entry.values.push_back(std::move(value).value());
      }
    } else {
      Result<std::string> value = ScalarToString(node);
      if (!value) {
        return InvalidArgument(
            fmt::format("{}:{}: key '{}': {}", path, line, key, value.error().message));
      }
      entry.values.push_back(std::move(value).value());
    }
    out.push_back(std::move(entry));
  }
  return {};
}

}  // namespace

Result<std::vector<ConfigEntry>> LoadConfigFile(const std::string& path,
                                                const std::vector<std::string>& sections) {
  std::ifstream file(path);
  if (!file) {
    return InvalidArgument(fmt::format("{}: cannot read config file", path));
  }
  std::stringstream text;
  text << file.rdbuf();
  toml::table table;
  try {
    // Debian builds toml++ with exceptions: a syntax error arrives as parse_error.
    table = toml::parse(text.str(), path);
  } catch (const toml::parse_error& err) {
    const int line = static_cast<int>(err.source().begin.line);
    const std::string key = KeyOnLine(text.str(), line);
    return InvalidArgument(fmt::format("{}:{}:{}: {}{}", path, line, err.source().begin.column,
                                       key.empty() ? "" : fmt::format("key '{}': ", key),
                                       err.description()));
  }
  for (const std::string& section : sections) {
    table.erase(section);
  }
  std::vector<ConfigEntry> entries;
  if (Status s = Flatten(table, "", path, entries); !s) {
    return s.error();
  }
  return entries;
}

Status ApplyConfig(CLI::App& app, const std::string& path,
                   const std::vector<ConfigEntry>& entries) {
  for (const ConfigEntry& entry : entries) {
    CLI::Option* option = app.get_option_no_throw("--" + entry.key);
    if (option == nullptr || !option->get_configurable()) {
      return InvalidArgument(fmt::format("{}:{}: unknown key '{}'", path, entry.line, entry.key));
    }
    if (option->count() > 0) {
      continue;  // The command line wins.
    }
    try {
      option->add_result(entry.values);
      option->run_callback();
    } catch (const CLI::Error& e) {
      return InvalidArgument(
          fmt::format("{}:{}: key '{}': {}", path, entry.line, entry.key, e.what()));
    }
  }
  return {};
}

}  // namespace trellis::base
