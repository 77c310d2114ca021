#include "proto/memcache/parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace trellis::proto::memcache {
namespace {

constexpr size_t kMaxItem = 1 << 20;

struct Case {
  std::string input;
  ParseStatus status;
  std::string error;  // For kError.
};

TEST(ParserTest, ClassifiesRequestsAsMemcachedDoes) {
  const Case cases[] = {
      {"get k\r\n", ParseStatus::kOk, ""},
      {"get k", ParseStatus::kNeedMore, ""},
      {"get\r\n", ParseStatus::kError, "ERROR"},
      {"set k 0 0 1\r\nx\r\n", ParseStatus::kOk, ""},
      {"set k 0 0 1\r\nx", ParseStatus::kNeedMore, ""},
      {"set k 0 0 1\r\nxyz", ParseStatus::kError, "CLIENT_ERROR bad data chunk"},
      {"set k 0 0 -1\r\n", ParseStatus::kError, "CLIENT_ERROR bad command line format"},
      {"set k 0 0 2000000\r\n", ParseStatus::kTooLarge, ""},
      {"set " + std::string(251, 'k') + " 0 0 1\r\nx\r\n", ParseStatus::kError,
       "CLIENT_ERROR bad command line format"},
      {"incr k x\r\n", ParseStatus::kError, "CLIENT_ERROR invalid numeric delta argument"},
      {"touch k x\r\n", ParseStatus::kError, "CLIENT_ERROR invalid exptime argument"},
      {"delete k 5\r\n", ParseStatus::kError,
       "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]"},
      {"mg k v zz\r\n", ParseStatus::kError, "CLIENT_ERROR invalid flag"},
      {"mg k v v\r\n", ParseStatus::kError, "CLIENT_ERROR duplicate flag"},
      {"md k !\r\n", ParseStatus::kError, "CLIENT_ERROR invalid or duplicate flag"},
      {"ms k 2 MZ\r\nhi\r\n", ParseStatus::kError, "CLIENT_ERROR invalid mode for ms M token"},
      {"mn\r\n", ParseStatus::kOk, ""},
      {"bogus\r\n", ParseStatus::kError, "ERROR"},
      {"GET / HTTP/1.1\r\n", ParseStatus::kClose, ""},
      {std::string(3000, 'x'), ParseStatus::kClose, ""},
      {"get " + std::string(3000, 'k'), ParseStatus::kNeedMore, ""},
  };
  for (const Case& c : cases) {
    Request request;
    const ParseResult result = ParseRequest(c.input, kMaxItem, &request);
    EXPECT_EQ(result.status, c.status) << c.input.substr(0, 40);
    if (c.status == ParseStatus::kError) {
      EXPECT_EQ(result.error, c.error) << c.input.substr(0, 40);
    }
  }
}

TEST(ParserTest, FillsTheRequest) {
  Request request;
  ParseResult result =
      ParseRequest("cas key 5 100 3 77 noreply\r\nabc\r\nget x", kMaxItem, &request);
  ASSERT_EQ(result.status, ParseStatus::kOk);
  EXPECT_EQ(result.consumed, 33u);
  EXPECT_EQ(request.command, Command::kCas);
  EXPECT_EQ(request.key, "key");
  EXPECT_EQ(request.client_flags, 5u);
  EXPECT_EQ(request.exptime, 100);
  EXPECT_EQ(request.cas_unique, 77u);
  EXPECT_TRUE(request.noreply);
  EXPECT_EQ(request.value, "abc");

  result = ParseRequest("gets a  b c\r\n", kMaxItem, &request);
  ASSERT_EQ(result.status, ParseStatus::kOk);
  EXPECT_EQ(request.keys, (std::vector<std::string_view>{"a", "b", "c"}));

  result = ParseRequest("mg a2V5 b v T30 Oxy\r\n", kMaxItem, &request);
  ASSERT_EQ(result.status, ParseStatus::kOk);
  EXPECT_EQ(request.key, "key");  // Base64-decoded.
  EXPECT_TRUE(request.meta.Has('v'));
  EXPECT_EQ(request.meta.Token('T'), "30");
  EXPECT_EQ(request.meta.Token('O'), "xy");
}

TEST(ParserTest, TooLargeValueReportsHowMuchToSkip) {
  Request request;
  const ParseResult result = ParseRequest("set k 0 0 2000000 noreply\r\n", kMaxItem, &request);
  ASSERT_EQ(result.status, ParseStatus::kTooLarge);
  EXPECT_EQ(result.swallow, 2000002u);
  EXPECT_TRUE(request.noreply);
  EXPECT_EQ(request.key, "k");
}

}  // namespace
}  // namespace trellis::proto::memcache
