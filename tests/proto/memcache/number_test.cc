#include "proto/memcache/number.h"

#include <gtest/gtest.h>

#include <string>

namespace trellis::proto::memcache {
namespace {

struct Case {
  std::string text;
  bool ok;
  uint64_t value;
};

// What memcached 1.6.18's safe_strtoull() makes of each (checked against its incr, which
// reads the stored value with it).
TEST(SafeStrtoullTest, AcceptsWhatMemcachedAccepts) {
  const Case cases[] = {
      {"0", true, 0},
      {"10", true, 10},
      {"  10", true, 10},
      {"\n\t\v\f\r10", true, 10},
      {"10  ", true, 10},
      {"1 2", true, 1},
      {std::string("10\0x", 4), true, 10},
      {"+10", true, 10},
      {"-0", true, 0},
      {"-18446744073709551615", true, 1},
      {"18446744073709551615", true, 18446744073709551615u},
      {"0000000000000000000000000000000000000005", true, 5},
      {"", false, 0},
      {"   ", false, 0},
      {"+", false, 0},
      {"-1", false, 0},
      {"-10", false, 0},
      {"18446744073709551616", false, 0},
      {"-18446744073709551616", false, 0},
      {"10ab", false, 0},
      {"0x10", false, 0},
      {"ab", false, 0},
  };
  for (const Case& c : cases) {
    uint64_t value = 12345;
    EXPECT_EQ(SafeStrtoull(c.text, &value), c.ok) << '"' << c.text << '"';
    if (c.ok) {
      EXPECT_EQ(value, c.value) << '"' << c.text << '"';
    }
  }
}

}  // namespace
}  // namespace trellis::proto::memcache
