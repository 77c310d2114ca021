// Process-wide logging setup: one spdlog logger writing one line per event to stderr.
// Each daemon's composition root calls InitLogging() once before starting threads;
// everything else logs through spdlog's free functions (spdlog::info, ...).
//
// Thread safety: InitLogging() before any thread starts; logging itself is thread-safe.
#pragma once

#include <string_view>

#include "base/result.h"

namespace trellis::base {

// Accepts trace, debug, info, warn, error, off. Fails on any other level name.
Status InitLogging(std::string_view level);

// The level names InitLogging() accepts, for --help texts and validators.
inline constexpr std::string_view kLogLevels = "trace|debug|info|warn|error|off";

}  // namespace trellis::base
