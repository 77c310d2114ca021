// Numbers as memcached reads them. Its safe_strtoull() decides which command tokens are
// numbers (the parser) and which stored values incr and decr accept (the cache node), so
// both use this one copy of its rules.
//
// Thread safety: none needed; pure functions.
#pragma once

#include <cstdint>
#include <string_view>

namespace trellis::proto::memcache {

// memcached's safe_strtoull() over `text`, which it reads as if a NUL or "\r\n" followed
// (a token, or an item's value): strtoull's leading whitespace and sign, base 10, then the
// number must end `text` or be followed by whitespace or a NUL ("12 junk" is 12). Refused:
// no digits, overflow, and a '-' whose result does not fit in int64 ("-1"); "-0" is 0
// and "-18446744073709551615" is 1, as strtoull makes them.
bool SafeStrtoull(std::string_view text, uint64_t* out);

}  // namespace trellis::proto::memcache
