// libmemcached's memccapable, a memcached conformance checker we did not write, against a
// real `trellis cache` process: every ASCII protocol test must pass.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "testing/daemon_process.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;

TEST(MemccapableTest, AsciiProtocolTestsAllPass) {
  testing::DaemonProcess cache({"cache", "--listen", "127.0.0.1:0", "--threads", "2"});
  const uint16_t port = cache.WaitForListening("cache");
  testing::DaemonProcess memccapable({"-h", "127.0.0.1", "-p", std::to_string(port), "-a"},
                                     "/usr/bin/memccapable");
  const std::optional<int> status = memccapable.WaitExit(60s);
  ASSERT_TRUE(status.has_value()) << memccapable.Log();
  const std::string log = memccapable.Log();
  EXPECT_THAT(log, ::testing::Not(::testing::HasSubstr("FAIL"))) << log;
  EXPECT_THAT(log, ::testing::HasSubstr("ascii quit"));
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << log;
}

}  // namespace
}  // namespace trellis
