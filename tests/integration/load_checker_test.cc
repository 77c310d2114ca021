// The load checker (testing/load_checker.h) against one real cache node: a clean run
// shows no violation, and a node that loses what it acknowledged (flush_all while the
// load runs) is caught, so that a clean run elsewhere means something.
#include "testing/load_checker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/daemon_process.h"
#include "testing/loopback_client.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;
using testing::DaemonProcess;
using testing::Eventually;

class LoadCheckerTest : public ::testing::Test {
 protected:
  LoadCheckerTest()
      : node_({"cache", "--listen", "127.0.0.1:0", "--threads", "2"}),
        port_(node_.WaitForListening("cache")) {}

  // Runs until `operations` more are done.
  static bool RunFor(testing::LoadChecker& checker, uint64_t operations) {
    const uint64_t target = checker.operations() + operations;
    return Eventually([&] { return checker.operations() >= target; }, 30s);
  }

  DaemonProcess node_;
  uint16_t port_;
};

TEST_F(LoadCheckerTest, ACleanRunHasNoViolation) {
  testing::LoadChecker checker({{port_}, 3, 2, 200, 64});
  checker.Start();
  ASSERT_TRUE(RunFor(checker, 10000));
  checker.Stop();
  checker.VerifyAll();
  const testing::LoadCheckerReport report = checker.Report();
  EXPECT_EQ(report.violations, 0u) << ::testing::PrintToString(report.first_violations);
  EXPECT_EQ(report.errors, 0u) << ::testing::PrintToString(report.first_errors);
}

TEST_F(LoadCheckerTest, ANodeThatForgetsWhatItAcknowledgedIsCaught) {
  testing::LoadChecker checker({{port_}, 3, 2, 200, 64});
  checker.Start();
  ASSERT_TRUE(RunFor(checker, 3000));
  testing::LoopbackClient admin(port_);
  admin.Send("flush_all\r\n");
  ASSERT_EQ(admin.ReadUntil("\r\n"), "OK\r\n");
  checker.Stop();
  checker.VerifyAll();
  const testing::LoadCheckerReport report = checker.Report();
  EXPECT_GT(report.violations, 0u);
  EXPECT_THAT(::testing::PrintToString(report.first_violations),
              ::testing::AnyOf(::testing::HasSubstr("a miss"), ::testing::HasSubstr("read '")));
}

}  // namespace
}  // namespace trellis
