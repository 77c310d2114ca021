// A whole cluster's items in one file (`trellis backup dump` / `load`, docs/backup.md,
// "Dump and load"): the archive's block container (archive_file.h) with a header of kind
// dump for group "*", record blocks of every live item (a store record each: key, value,
// flags, absolute expiry), and an end block with the item count. Versioned by the
// header, checked by every block's CRC; it names no group or slot, so it loads into a
// cluster of any shape.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "backup/point_in_time.h"
#include "base/result.h"

namespace trellis::backup {

inline constexpr std::string_view kClusterDumpGroup = "*";

// The items of `state` still live at `unix_now`.
std::string EncodeClusterDump(const ClusterState& state, uint32_t unix_now);
// The items of a dump as a plan that sets each (those expired by `unix_now` are left
// out). Errors: a corrupt, truncated or foreign file, naming the offset.
base::Result<RestorePlan> DecodeClusterDump(std::string_view bytes, uint32_t unix_now);

}  // namespace trellis::backup
