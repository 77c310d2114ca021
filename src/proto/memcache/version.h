// The version a Trellis memcached server reports, in `version` and `stats`: the memcached
// release whose protocol it speaks, then Trellis's own ("1.6.18-trellis-0.1.0"), so that
// clients that parse the number for features see 1.6.18. The cache node and the access
// proxy both answer with it.
//
// Thread safety: constants only.
#pragma once

#include <string_view>

#include "base/version.h"

namespace trellis::proto::memcache {

// The whole reply to `version`, built from base::kVersion's literal at compile time.
inline constexpr std::string_view kVersionReply = "VERSION 1.6.18-trellis-" TRELLIS_VERSION "\r\n";

// The version alone, as `stats` reports it.
inline constexpr std::string_view kServerVersion =
    kVersionReply.substr(8, kVersionReply.size() - 8 - 2);
static_assert(kServerVersion.ends_with(base::kVersion));

}  // namespace trellis::proto::memcache
