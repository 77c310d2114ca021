// Base64 (RFC 4648, with padding) for meta-protocol keys sent with the b flag.
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace trellis::proto::memcache {

// Decodes `text`; nullopt when it is not valid padded base64 or decodes to nothing.
std::optional<std::string> Base64Decode(std::string_view text);
std::string Base64Encode(std::string_view bytes);

}  // namespace trellis::proto::memcache
