// Key namespaces: how the access proxy keeps each tenant to its own keys
// (docs/security.md). A tenant's keys are stored under a prefix of its own
// ("<id>.<generation>:", master::TenantState::KeyPrefix): requests get the prefix put
// before every key they name, and replies get it taken off every key they name, so the
// tenant's client sees the keys it wrote and nothing else, and no request it can send
// names a key outside its prefix (a key is one token: it has no space to smuggle another).
//
// What names keys: requests' key tokens (get and gets: every token after the command;
// gat and gats: every token after the exptime; the other keyed commands: the first);
// replies' VALUE lines, meta replies' k flags and `me` replies. Meta keys sent with the b
// flag are base64: decoded, prefixed and encoded again.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "proto/memcache/request.h"

namespace trellis::proto::memcache {

// Whether `command` names keys (every command but flush_all, version, verbosity, quit,
// stats and mn).
bool NamesKeys(Command command);

// `raw`, the whole request `request` was parsed from, with `prefix` before each key.
// REQUIRES: NamesKeys(request.command); `request` parsed from `raw` without error.
std::string PrefixKeys(std::string_view raw, const Request& request, std::string_view prefix);

// The tenant id of the prefix "<id>.<generation>:" (decimal numbers, as
// master::TenantState::KeyPrefix writes it) that `key` starts with; 0 if it starts with
// none. How a cache node knows whose quota an item counts against.
uint64_t TenantOfKey(std::string_view key);

// `reply`, whole replies as a cache node sends them, with `prefix` taken off each key
// that starts with it. Whatever is not a reply it knows passes unchanged.
std::string StripKeyPrefix(std::string_view reply, std::string_view prefix);

}  // namespace trellis::proto::memcache
