#include "testing/memccapable.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <string>

#include "testing/daemon_process.h"

namespace trellis::testing {

void ExpectMemccapablePasses(uint16_t port) {
  DaemonProcess memccapable({"-h", "127.0.0.1", "-p", std::to_string(port), "-a"},
                            "/usr/bin/memccapable");
  const std::optional<int> status = memccapable.WaitExit(60s);
  ASSERT_TRUE(status.has_value()) << memccapable.Log();
  const std::string log = memccapable.Log();
  EXPECT_EQ(log.find("FAIL"), std::string::npos) << log;
  EXPECT_NE(log.find("ascii quit"), std::string::npos) << log;
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << log;
}

}  // namespace trellis::testing
