// Little-endian integers in byte strings, for the binary formats (the replication stream,
// the backup archive). Little-endian hosts only (x86-64, arm64), so a copy suffices.
//
// Thread safety: pure functions.
#pragma once

#include <cstring>
#include <string>

namespace trellis::base {

template <typename T>
void PutLittleEndian(T value, std::string* out) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out->append(bytes, sizeof(T));
}

}  // namespace trellis::base
