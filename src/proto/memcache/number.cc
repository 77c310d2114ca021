#include "proto/memcache/number.h"

namespace trellis::proto::memcache {
namespace {

// isspace() in the C locale, which memcached runs in.
bool IsSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

}  // namespace

bool SafeStrtoull(std::string_view text, uint64_t* out) {
  size_t i = 0;
  while (i < text.size() && IsSpace(text[i])) {
    ++i;
  }
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    negative = text[i] == '-';
    ++i;
  }
  const size_t digits_start = i;
  uint64_t value = 0;
  bool overflow = false;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    const uint64_t digit = static_cast<uint64_t>(text[i] - '0');
    overflow = overflow || value > (UINT64_MAX - digit) / 10;
    value = value * 10 + digit;
  }
  if (i == digits_start || overflow) {
    return false;  // strtoull parsed nothing, or set ERANGE.
  }
  if (i < text.size() && text[i] != '\0' && !IsSpace(text[i])) {
    return false;
  }
  if (negative) {
    value = 0 - value;  // strtoull negates in unsigned arithmetic.
    if (static_cast<int64_t>(value) < 0) {
      return false;
    }
  }
  *out = value;
  return true;
}

}  // namespace trellis::proto::memcache
