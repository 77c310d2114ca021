// Durations as people write them in flags and files.
//
// Thread safety: a pure function.
#pragma once

#include <chrono>
#include <string_view>

#include "base/result.h"

namespace trellis::base {

// "1.5" (seconds), "250ms", "2s", "1m", "1h" -> milliseconds.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

}  // namespace trellis::base
