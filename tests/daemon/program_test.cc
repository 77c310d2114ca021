// Other programs run by a daemon (daemon/program.h) and its supervised children
// (daemon/supervisor.h), together: each one's exit is collected by its own waiter.
#include "daemon/program.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pthread.h>

#include <csignal>
#include <fstream>

#include "base/file.h"
#include "daemon/supervisor.h"
#include "testing/loopback_client.h"
#include "testing/temp_dir.h"

namespace trellis::daemon {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr const char* kShell = "/bin/sh";

TEST(RunProgramTest, ItsInputEnvironmentOutputAndExit) {
  testing::TempDir dir;
  const std::filesystem::path log = dir.path() / "out.log";
  std::ofstream(dir.path() / "in.txt") << "from the input file\n";
  ASSERT_TRUE(
      RunProgram({kShell, {"-c", "cat; echo \"zone $TZ\""}, log, dir.path() / "in.txt", {"TZ=UTC"}})
          .ok());
  EXPECT_EQ(*base::ReadFile(log), "from the input file\nzone UTC\n");
  const base::Status failed = RunProgram({kShell, {"-c", "exit 3"}, log, {}, {}});
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.error().message, HasSubstr(log.string()));
  EXPECT_FALSE(RunProgram({"/nonexistent/program", {}, log, {}, {}}).ok());
}

TEST(RunProgramTest, TheProgramGetsBackTheSignalsTheDaemonBlocksOrIgnores) {
  testing::TempDir dir;
  sigset_t terminate;
  sigemptyset(&terminate);
  sigaddset(&terminate, SIGTERM);
  sigset_t before;
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &terminate, &before), 0);
  const auto pipe_before = std::signal(SIGPIPE, SIG_IGN);
  const base::Status ran = RunProgram(
      {kShell, {"-c", "grep -E 'SigBlk|SigIgn' /proc/self/status"}, dir.path() / "log", {}, {}});
  std::signal(SIGPIPE, pipe_before);
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
  ASSERT_TRUE(ran.ok());
  // The masks in hexadecimal, signal n at bit n - 1.
  const std::string status = *base::ReadFile(dir.path() / "log");
  const size_t blocked_at = status.find("SigBlk:\t");
  const size_t ignored_at = status.find("SigIgn:\t");
  ASSERT_NE(blocked_at, std::string::npos) << status;
  ASSERT_NE(ignored_at, std::string::npos) << status;
  const uint64_t blocked = std::stoull(status.substr(blocked_at + 8, 16), nullptr, 16);
  const uint64_t ignored = std::stoull(status.substr(ignored_at + 8, 16), nullptr, 16);
  EXPECT_EQ(blocked & (uint64_t{1} << (SIGTERM - 1)), 0u) << status;
  EXPECT_EQ(ignored & (uint64_t{1} << (SIGPIPE - 1)), 0u) << status;
}

TEST(StartedProgramTest, StopTerminatesAndReportsHowItEnded) {
  testing::TempDir dir;
  auto started =
      StartedProgram::Start({kShell, {"-c", "exec sleep 60"}, dir.path() / "log", {}, {}});
  ASSERT_TRUE(started.ok());
  EXPECT_FALSE(started->Exited().has_value());
  EXPECT_FALSE(started->Stop(5s));  // Killed by SIGTERM: not a clean exit.
  auto quick = StartedProgram::Start({kShell, {"-c", "exit 0"}, dir.path() / "log", {}, {}});
  ASSERT_TRUE(quick.ok());
  ASSERT_TRUE(testing::Eventually([&] { return quick->Exited().has_value(); }, 5s));
  EXPECT_EQ(quick->Exited(), std::optional<int>(0));
}

TEST(SupervisorTest, ProgramsRunBesideChildrenGetTheirOwnExitAndRemovedChildrenStop) {
  testing::TempDir dir;
  Supervisor supervisor("", dir.path().string());
  ASSERT_TRUE(supervisor
                  .Add({{"sleeper", {"-c", "exec sleep 60"}, {}, kShell},
                        {"quitter", {"-c", "exit 0"}, {}, kShell}},
                       0ms)
                  .ok());
  // The supervisor restarts its own child that exits...
  EXPECT_TRUE(testing::Eventually(
      [&] {
        for (const ChildStatus& child : supervisor.children()) {
          if (child.name == "quitter" && child.restarts >= 1) {
            return true;
          }
        }
        return false;
      },
      10s));
  // ...and leaves the exit of any other program to whoever ran it.
  for (int i = 0; i < 20; ++i) {
    EXPECT_FALSE(RunProgram({kShell, {"-c", "exit 3"}, dir.path() / "run.log", {}, {}}).ok());
  }
  supervisor.Remove("sleeper", 5s);
  supervisor.Remove("quitter", 5s);
  EXPECT_TRUE(supervisor.children().empty());
  supervisor.Stop(5s);
}

}  // namespace
}  // namespace trellis::daemon
