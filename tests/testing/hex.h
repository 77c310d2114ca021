// FromHex: bytes from their hex spelling ("0a35..."), for tests that keep captured wire
// bytes as text.
//
// Thread safety: a pure function.
#pragma once

#include <string>
#include <string_view>

namespace trellis::testing {

inline std::string FromHex(std::string_view hex) {
  std::string bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return bytes;
}

}  // namespace trellis::testing
