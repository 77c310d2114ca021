// Multi-gets across groups: a get, gets, gat or gats whose keys live in several groups
// is split into one request per group, and the groups' replies are merged into the one
// reply a single server would give: every hit in the order of the request's keys, then
// END. Pure functions, no I/O.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "proto/memcache/request.h"

namespace trellis::access {

// The request of `command` (a get-family command) for `keys`; `exptime` is gat's.
std::string BuildGetRequest(proto::memcache::Command command, int64_t exptime,
                            const std::vector<std::string_view>& keys);

// Merges per-part replies: `part_of_key[i]` is the part that was asked for keys[i].
// A part that is not a VALUE...END reply (an error) becomes the whole reply.
std::string MergeGetReplies(const std::vector<std::string>& keys,
                            const std::vector<size_t>& part_of_key,
                            const std::vector<std::string>& parts);

}  // namespace trellis::access
