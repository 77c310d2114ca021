// Fixed-size integers read from and appended to byte strings, in a format's byte order:
// big-endian (NBD) or little-endian (the replication stream, the backup archive, the
// storage nodes' protocol). A read takes the bytes at `at`; the caller has checked that
// they are there.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

#include <boost/endian/conversion.hpp>

namespace trellis::base {

template <typename T>
T LoadBig(std::string_view bytes, size_t at) {
  T value;
  std::memcpy(&value, bytes.data() + at, sizeof(T));
  return boost::endian::big_to_native(value);
}

template <typename T>
T LoadLittle(std::string_view bytes, size_t at) {
  T value;
  std::memcpy(&value, bytes.data() + at, sizeof(T));
  return boost::endian::little_to_native(value);
}

template <typename T>
void AppendBig(T value, std::string* out) {
  value = boost::endian::native_to_big(value);
  out->append(reinterpret_cast<const char*>(&value), sizeof(T));
}

template <typename T>
void AppendLittle(T value, std::string* out) {
  value = boost::endian::native_to_little(value);
  out->append(reinterpret_cast<const char*>(&value), sizeof(T));
}

}  // namespace trellis::base
