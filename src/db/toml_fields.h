// What CDB's configuration files (dbproxy_config.h, cluster_config.h) read alike: a
// node's line for error messages, a string field, and the [[user]] array (names and
// passwords or their hashes, no name twice).
//
// Thread safety: pure functions.
#pragma once

#include <toml++/toml.h>

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "db/dbproxy_config.h"

namespace trellis::db {

// "line N": where `node` is in the file.
std::string At(const toml::node& node);
base::Result<std::string> ReadString(const toml::node& node, std::string_view key);
// The value of `user = [[...]]`; errors name the line.
base::Result<std::vector<ProxyUser>> ReadUsers(const toml::node& node);
// The file parsed, or its syntax error with the line.
base::Result<toml::table> ParseToml(std::string_view text);

}  // namespace trellis::db
