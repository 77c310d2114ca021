#include "proto/memcache/request.h"

#include <gtest/gtest.h>

#include <string>

#include "proto/memcache/parser.h"

namespace trellis::proto::memcache {
namespace {

bool Changes(const std::string& line) {
  Request request;
  const ParseResult result = ParseRequest(line, 1 << 20, &request);
  EXPECT_EQ(result.status, ParseStatus::kOk) << line;
  return ChangesItems(request);
}

TEST(RequestTest, KnowsWhichCommandsChangeItems) {
  for (const char* line :
       {"set k 0 0 1\r\nx\r\n", "add k 0 0 1\r\nx\r\n", "cas k 0 0 1 5\r\nx\r\n",
        "append k 0 0 1\r\nx\r\n", "delete k\r\n", "incr k 1\r\n", "decr k 1\r\n", "touch k 1\r\n",
        "gat 1 k\r\n", "gats 1 k\r\n", "flush_all\r\n", "ms k 1\r\nx\r\n", "md k\r\n", "ma k\r\n",
        "mg k v T30\r\n", "mg k N30\r\n"}) {
    EXPECT_TRUE(Changes(line)) << line;
  }
  for (const char* line : {"get k\r\n", "gets k l\r\n", "mg k v c t\r\n", "me k\r\n", "mn\r\n",
                           "version\r\n", "stats\r\n", "verbosity 1\r\n"}) {
    EXPECT_FALSE(Changes(line)) << line;
  }
}

TEST(RequestTest, NamesEveryCommandAsItIsSent) {
  EXPECT_EQ(CommandName(Command::kGet), "get");
  EXPECT_EQ(CommandName(Command::kFlushAll), "flush_all");
  EXPECT_EQ(CommandName(Command::kStats), "stats");
  EXPECT_EQ(CommandName(Command::kMetaGet), "mg");
  EXPECT_EQ(CommandName(Command::kMetaDebug), "me");
  for (size_t i = 0; i < kCommandCount; ++i) {
    Request request;
    const std::string name(CommandName(static_cast<Command>(i)));
    // Each name parses back to its command (arguments or not).
    ParseRequest(name + " k 0 0 1 1\r\nx\r\n", 1 << 20, &request);
    EXPECT_EQ(request.command, static_cast<Command>(i)) << name;
  }
}

}  // namespace
}  // namespace trellis::proto::memcache
