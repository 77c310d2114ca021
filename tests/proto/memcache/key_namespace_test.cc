#include "proto/memcache/key_namespace.h"

#include <gtest/gtest.h>

#include <string>

#include "proto/memcache/base64.h"
#include "proto/memcache/parser.h"

namespace trellis::proto::memcache {
namespace {

constexpr std::string_view kPrefix = "7.2:";

// `raw` parsed, then its keys prefixed.
std::string Prefixed(const std::string& raw) {
  Request request;
  const ParseResult result = ParseRequest(raw, 1 << 20, &request);
  EXPECT_EQ(result.status, ParseStatus::kOk) << raw;
  EXPECT_TRUE(NamesKeys(request.command)) << raw;
  return PrefixKeys(raw, request, kPrefix);
}

TEST(KeyNamespaceTest, EveryKeyOfEveryKeyedCommandGetsThePrefix) {
  const std::pair<std::string, std::string> cases[] = {
      {"get a\r\n", "get 7.2:a\r\n"},
      {"gets a  bb ccc\r\n", "gets 7.2:a  7.2:bb 7.2:ccc\r\n"},
      {"gat 100 a b\r\n", "gat 100 7.2:a 7.2:b\r\n"},
      {"gats 0 a\n", "gats 0 7.2:a\n"},
      {"set a 0 0 3\r\nget\r\n", "set 7.2:a 0 0 3\r\nget\r\n"},
      {"add a 1 2 1 noreply\r\nx\r\n", "add 7.2:a 1 2 1 noreply\r\nx\r\n"},
      {"cas a 0 0 1 99\r\nx\r\n", "cas 7.2:a 0 0 1 99\r\nx\r\n"},
      {"append a 0 0 1\r\nx\r\n", "append 7.2:a 0 0 1\r\nx\r\n"},
      {"delete a\r\n", "delete 7.2:a\r\n"},
      {"incr a 5\r\n", "incr 7.2:a 5\r\n"},
      {"touch a 10\r\n", "touch 7.2:a 10\r\n"},
      {"mg a v k t\r\n", "mg 7.2:a v k t\r\n"},
      {"ms a 2 T0\r\nhi\r\n", "ms 7.2:a 2 T0\r\nhi\r\n"},
      {"md a q\r\n", "md 7.2:a q\r\n"},
      {"ma a D5\r\n", "ma 7.2:a D5\r\n"},
      {"me a\r\n", "me 7.2:a\r\n"},
  };
  for (const auto& [raw, expected] : cases) {
    EXPECT_EQ(Prefixed(raw), expected);
  }
}

TEST(KeyNamespaceTest, Base64KeysArePrefixedDecoded) {
  const std::string raw = "mg " + Base64Encode("k\x01y") + " b v k\r\n";
  const std::string prefixed = Prefixed(raw);
  Request request;
  ASSERT_EQ(ParseRequest(prefixed, 1 << 20, &request).status, ParseStatus::kOk);
  EXPECT_EQ(request.key, std::string(kPrefix) + "k\x01y");
}

TEST(KeyNamespaceTest, KeysWithoutCommandsThatNameNone) {
  for (Command command : {Command::kFlushAll, Command::kVersion, Command::kVerbosity,
                          Command::kQuit, Command::kStats, Command::kMetaNoop}) {
    EXPECT_FALSE(NamesKeys(command)) << CommandName(command);
  }
}

TEST(KeyNamespaceTest, RepliesLoseThePrefixOnTheirKeysOnly) {
  const std::pair<std::string, std::string> cases[] = {
      // A value that looks like a VALUE line is data, left alone.
      {"VALUE 7.2:a 0 17\r\nVALUE 7.2:b 0 1 x\r\nVALUE 7.2:bb 5 1 77\r\ny\r\nEND\r\n",
       "VALUE a 0 17\r\nVALUE 7.2:b 0 1 x\r\nVALUE bb 5 1 77\r\ny\r\nEND\r\n"},
      {"VA 2 k7.2:a t-1\r\nhi\r\n", "VA 2 ka t-1\r\nhi\r\n"},
      {"HD k7.2:a O123\r\n", "HD ka O123\r\n"},
      {"EN\r\n", "EN\r\n"},
      {"NF k7.2:x\r\n", "NF kx\r\n"},
      {"ME 7.2:a exp=-1 la=3 cas=2 fetch=no cls=1 size=63\r\n",
       "ME a exp=-1 la=3 cas=2 fetch=no cls=1 size=63\r\n"},
      {"STORED\r\nDELETED\r\nSERVER_ERROR out of memory\r\n",
       "STORED\r\nDELETED\r\nSERVER_ERROR out of memory\r\n"},
      {"", ""},
  };
  for (const auto& [reply, expected] : cases) {
    EXPECT_EQ(StripKeyPrefix(reply, kPrefix), expected);
  }
  const std::string base64 = "HD k" + Base64Encode(std::string(kPrefix) + "k y") + " b\r\n";
  EXPECT_EQ(StripKeyPrefix(base64, kPrefix), "HD k" + Base64Encode("k y") + " b\r\n");
}

TEST(KeyNamespaceTest, TheTenantOfAKeyIsTheIdOfItsPrefix) {
  EXPECT_EQ(TenantOfKey("7.2:a"), 7u);
  EXPECT_EQ(TenantOfKey("123.0:"), 123u);
  EXPECT_EQ(TenantOfKey("18446744073709551615.18446744073709551615:x"), 18446744073709551615u);
  for (const std::string_view key :
       {"", "a", "7", "7.", "7.2", "7.2a:", "7:2:a", ".2:a", "7.:a", "-7.2:a",
        "18446744073709551616.0:a", "7.18446744073709551616:a"}) {
    EXPECT_EQ(TenantOfKey(key), 0u) << key;
  }
}

}  // namespace
}  // namespace trellis::proto::memcache
