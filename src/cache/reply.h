// Small helpers that append memcached reply text to an output buffer, shared by the
// command executors.
//
// Thread safety: none; they write to the caller's buffer.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include "proto/memcache/request.h"

namespace trellis::cache {

inline void AppendNumber(std::string* out, uint64_t value) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out->append(buf, end);
}

inline void AppendSigned(std::string* out, int64_t value) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out->append(buf, end);
}

// A one-line reply, unless the text command asked for noreply.
inline void Reply(const proto::memcache::Request& request, std::string_view text,
                  std::string* out) {
  if (!request.noreply) {
    out->append(text);
    out->append("\r\n");
  }
}

}  // namespace trellis::cache
