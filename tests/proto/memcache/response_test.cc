#include "proto/memcache/response.h"

#include <gtest/gtest.h>

#include <string>

namespace trellis::proto::memcache {
namespace {

struct Case {
  std::string input;
  ResponseStatus status;
  size_t consumed;
  ResponseKind kind;
  size_t hits;
};

TEST(ResponseTest, ParsesEveryReplyKind) {
  const Case cases[] = {
      {"END\r\n", ResponseStatus::kOk, 5, ResponseKind::kValues, 0},
      {"VALUE k 0 1\r\nx\r\nEND\r\n", ResponseStatus::kOk, 21, ResponseKind::kValues, 1},
      {"VALUE a 1 2 77\r\nab\r\nVALUE b 0 0\r\n\r\nEND\r\nSTORED\r\n", ResponseStatus::kOk, 40,
       ResponseKind::kValues, 2},
      {"VALUE k 0 3\r\nx\r\nEND\r\n", ResponseStatus::kBad, 0, ResponseKind::kValues, 0},
      {"VALUE k 0 5\r\nab", ResponseStatus::kNeedMore, 0, ResponseKind::kValues, 0},
      {"VALUE k 0\r\nEND\r\n", ResponseStatus::kBad, 0, ResponseKind::kValues, 0},
      {"STORED\r\n", ResponseStatus::kOk, 8, ResponseKind::kStored, 0},
      {"NOT_STORED\r\n", ResponseStatus::kOk, 12, ResponseKind::kNotStored, 0},
      {"EXISTS\r\n", ResponseStatus::kOk, 8, ResponseKind::kExists, 0},
      {"NOT_FOUND\r\n", ResponseStatus::kOk, 11, ResponseKind::kNotFound, 0},
      {"DELETED\r\n", ResponseStatus::kOk, 9, ResponseKind::kDeleted, 0},
      {"TOUCHED\r\n", ResponseStatus::kOk, 9, ResponseKind::kTouched, 0},
      {"OK\r\n", ResponseStatus::kOk, 4, ResponseKind::kOk, 0},
      {"42\r\n", ResponseStatus::kOk, 4, ResponseKind::kNumber, 0},
      {"VA 2 f5\r\nhi\r\n", ResponseStatus::kOk, 13, ResponseKind::kMetaValue, 1},
      {"VA 2\r\nhiX\r\n", ResponseStatus::kBad, 0, ResponseKind::kOther, 0},
      {"VA x\r\n", ResponseStatus::kBad, 0, ResponseKind::kOther, 0},
      {"HD c12\r\n", ResponseStatus::kOk, 8, ResponseKind::kMetaHeader, 1},
      {"EN\r\n", ResponseStatus::kOk, 4, ResponseKind::kMetaMiss, 0},
      {"NF\r\n", ResponseStatus::kOk, 4, ResponseKind::kMetaNotFound, 0},
      {"NS\r\n", ResponseStatus::kOk, 4, ResponseKind::kMetaNotStored, 0},
      {"EX\r\n", ResponseStatus::kOk, 4, ResponseKind::kMetaExists, 0},
      {"MN\r\n", ResponseStatus::kOk, 4, ResponseKind::kMetaNoop, 0},
      {"ERROR\r\n", ResponseStatus::kOk, 7, ResponseKind::kError, 0},
      {"CLIENT_ERROR bad data chunk\r\n", ResponseStatus::kOk, 29, ResponseKind::kClientError, 0},
      {"SERVER_ERROR out of memory\r\n", ResponseStatus::kOk, 28, ResponseKind::kServerError, 0},
      {"VERSION 1.6.18\r\n", ResponseStatus::kOk, 16, ResponseKind::kOther, 0},
      {"STORED", ResponseStatus::kNeedMore, 0, ResponseKind::kOther, 0},
  };
  for (const Case& c : cases) {
    Response response;
    const ResponseResult result = ParseResponse(c.input, &response);
    EXPECT_EQ(result.status, c.status) << c.input;
    if (c.status == ResponseStatus::kOk) {
      EXPECT_EQ(result.consumed, c.consumed) << c.input;
      EXPECT_EQ(response.kind, c.kind) << c.input;
      EXPECT_EQ(response.hits, c.hits) << c.input;
    }
  }
}

}  // namespace
}  // namespace trellis::proto::memcache
