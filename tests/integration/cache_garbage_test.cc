// Hostile input over real sockets: thousands of connections carrying random bytes mixed
// with fragments of real commands. The cache node must keep serving, answer a clean
// client correctly afterwards, and close every one of those connections (no leak).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <regex>

#include "testing/daemon_process.h"
#include "testing/loopback_client.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;

std::string RandomBlob(std::mt19937_64& random) {
  static const char* kFragments[] = {"get ",
                                     "gets ",
                                     "set k 0 0 ",
                                     "ms k ",
                                     "mg k v ",
                                     "cas k 0 0 1 ",
                                     "incr k ",
                                     "\r\n",
                                     "\n",
                                     " noreply",
                                     "99999999999999999999",
                                     "-1 ",
                                     "quit",
                                     "flush_all ",
                                     "ma k N0 ",
                                     "md k I ",
                                     "T",
                                     "b ",
                                     "O",
                                     "k ",
                                     "\0",
                                     "stats ",
                                     "verbosity ",
                                     "touch k ",
                                     "gat 1 "};
  std::string blob;
  const int parts = std::uniform_int_distribution<int>(1, 40)(random);
  for (int i = 0; i < parts; ++i) {
    if (random() % 3 == 0) {
      const int n = std::uniform_int_distribution<int>(1, 64)(random);
      for (int j = 0; j < n; ++j) {
        blob.push_back(static_cast<char>(random() & 0xff));
      }
    } else {
      blob += kFragments[random() % (sizeof(kFragments) / sizeof(kFragments[0]))];
    }
  }
  return blob;
}

// The number in `trellis_connections{server="cache"} N` on /metrics.
int OpenConnections(uint16_t admin_port) {
  const std::string body = testing::HttpGet(admin_port, "/metrics").body;
  std::smatch match;
  static const std::regex gauge("trellis_connections\\{server=\"cache\"\\} ([0-9]+)");
  return std::regex_search(body, match, gauge) ? std::stoi(match[1].str()) : -1;
}

TEST(CacheGarbageTest, RandomBytesNeverBreakTheServer) {
  testing::DaemonProcess cache(
      {"cache", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--threads", "2"});
  const uint16_t port = cache.WaitForListening("cache");
  const uint16_t admin_port = cache.WaitForListening("admin");
  std::mt19937_64 random(20261126);
  for (int i = 0; i < 2000; ++i) {
    testing::LoopbackClient client(port);
    client.Send(RandomBlob(random));
    if (i % 10 == 0) {
      client.ReadUntil("\r\n", 20ms);  // Sometimes read a little of what came back.
    }
  }
  testing::LoopbackClient clean(port);
  ASSERT_TRUE(clean.Send("flush_all\r\nset after 3 0 2\r\nok\r\nget after\r\n"));
  EXPECT_EQ(clean.ReadUntil("END\r\n"), "OK\r\nSTORED\r\nVALUE after 3 2\r\nok\r\nEND\r\n");
  // Every garbage connection gets closed: only the clean one stays open.
  int open = -1;
  EXPECT_TRUE(testing::Eventually([&] { return (open = OpenConnections(admin_port)) == 1; }, 10s))
      << open << " connections still open";
  EXPECT_FALSE(cache.WaitExit(0ms).has_value()) << cache.Log();
}

}  // namespace
}  // namespace trellis
