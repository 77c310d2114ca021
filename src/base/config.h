// Config files: a daemon's flags may also come from a TOML file (`--config FILE`), one
// top-level key per long flag name (`threads = 4` for `--threads 4`). A flag given on the
// command line wins over the same key in the file.
//
// Used by every composition root in src/cli after CLI11 has parsed the command line.
// Errors name the file, the line and the key, so an operator can fix the file from the
// message alone.
//
// Thread safety: none; call at start-up.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace CLI {
class App;
}

namespace trellis::base {

// One key of a config file, its value(s) rendered as the strings a flag would take.
struct ConfigEntry {
  std::string key;
  std::vector<std::string> values;  // One element, or one per array item.
  int line = 0;                     // 1-based line of the key in the file.
};

// Reads and parses `path`. Fails on an unreadable file, a TOML syntax error, or a value
// that cannot stand for a flag (a table inside an array, say). The top-level keys in
// `sections` are not flags but the daemon's own (the gateway's [[listener]] and [[pool]]
// tables): they are left out.
Result<std::vector<ConfigEntry>> LoadConfigFile(const std::string& path,
                                                const std::vector<std::string>& sections);

// Applies `entries` (from `path`) to the options of `app` that the command line left
// unset, converting and validating each with the option's own rules.
// Fails on a key that names no option, or a value the option rejects.
Status ApplyConfig(CLI::App& app, const std::string& path, const std::vector<ConfigEntry>& entries);

}  // namespace trellis::base
