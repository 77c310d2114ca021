// The Trellis version, from the top-level CMakeLists.txt project() line.
//
// Thread safety: constants only.
#pragma once

#include <string_view>

namespace trellis::base {

inline constexpr std::string_view kVersion = TRELLIS_VERSION;

}  // namespace trellis::base
