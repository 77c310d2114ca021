// Shutdown while the cluster map keeps changing: an access node and a cache node that
// follow the master get SIGTERM, 50 times each, while map changes arrive continuously
// (another thread flips the group's write mode as fast as the master answers). Each must
// exit within its drain timeout every time: stopping never waits on a follower that is
// itself waiting on stopped threads.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "testing/daemon_process.h"
#include "testing/loopback_client.h"
#include "testing/temp_dir.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;
using testing::DaemonProcess;
using testing::HttpRequest;

constexpr int kRounds = 50;
constexpr auto kDrainTimeout = 1s;
// Room beyond the drain timeout for the process to exit and be reaped on a loaded machine.
constexpr auto kExitSlack = 2s;

class ShutdownTest : public ::testing::Test {
 protected:
  ShutdownTest()
      : master_({"master", "--listen", "127.0.0.1:0", "--data", data_.path().string(),
                 "--probe-interval", "0.1"}) {
    master_port_ = master_.WaitForListening("master");
    master_url_ = "http://127.0.0.1:" + std::to_string(master_port_);
    EXPECT_EQ(HttpRequest(master_port_, "POST", "/v1/groups", R"({"name": "g1"})").status, 201);
    main_ = std::make_unique<DaemonProcess>(
        std::vector<std::string>{"cache", "--listen", "127.0.0.1:0", "--threads", "1", "--master",
                                 master_url_, "--group", "g1"});
    main_->WaitForListening("cache");
    churn_ = std::thread([this] {
      for (int i = 0; !stop_churn_; ++i) {
        const std::string body = i % 2 == 0 ? R"({"mode": "sync"})" : R"({"mode": "async"})";
        if (HttpRequest(master_port_, "POST", "/v1/groups/g1/mode", body).status == 200) {
          ++changes_;
        }
      }
    });
  }
  ~ShutdownTest() override {
    stop_churn_ = true;
    churn_.join();
  }

  // Starts `args` 50 times, each time SIGTERM once it listens; returns the slowest exit.
  std::chrono::milliseconds StopRepeatedly(const std::vector<std::string>& args,
                                           const std::string& service) {
    std::chrono::milliseconds slowest{0};
    for (int round = 0; round < kRounds; ++round) {
      std::vector<std::string> with_drain = args;
      with_drain.insert(with_drain.end(), {"--drain-timeout", "1"});
      DaemonProcess daemon(with_drain);
      const uint16_t port = daemon.WaitForListening(service);
      const uint64_t changes_before = changes_;
      // Let the map change under it before it stops.
      EXPECT_TRUE(testing::Eventually([&] { return changes_ >= changes_before + 3; }, 5s));
      const auto signalled = std::chrono::steady_clock::now();
      daemon.Signal(SIGTERM);
      const std::optional<int> status = daemon.WaitExit(kDrainTimeout + kExitSlack);
      const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - signalled);
      EXPECT_TRUE(status.has_value())
          << "round " << round << ": still running " << took.count() << " ms after SIGTERM\n"
          << daemon.Log();
      if (!status) {
        break;
      }
      EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << daemon.Log();
      slowest = std::max(slowest, took);
      if (service == "cache") {
        // Keep the map small: the stopped backup leaves it.
        HttpRequest(master_port_, "DELETE", "/v1/nodes/127.0.0.1:" + std::to_string(port), "");
      }
    }
    return slowest;
  }

  testing::TempDir data_;
  DaemonProcess master_;
  uint16_t master_port_ = 0;
  std::string master_url_;
  std::unique_ptr<DaemonProcess> main_;
  std::atomic<bool> stop_churn_{false};
  std::atomic<uint64_t> changes_{0};
  std::thread churn_;
};

TEST_F(ShutdownTest, AccessNodeExitsWithinItsDrainTimeoutWhileTheMapChanges) {
  const auto slowest = StopRepeatedly(
      {"access", "--listen", "127.0.0.1:0", "--threads", "2", "--master", master_url_}, "access");
  std::cout << "access: " << kRounds << " SIGTERMs under " << changes_
            << " map changes, slowest exit " << slowest.count() << " ms\n";
}

TEST_F(ShutdownTest, CacheNodeFollowingTheMasterExitsWithinItsDrainTimeoutWhileTheMapChanges) {
  const auto slowest = StopRepeatedly({"cache", "--listen", "127.0.0.1:0", "--threads", "2",
                                       "--master", master_url_, "--group", "g1"},
                                      "cache");
  std::cout << "cache: " << kRounds << " SIGTERMs under " << changes_
            << " map changes, slowest exit " << slowest.count() << " ms\n";
}

}  // namespace
}  // namespace trellis
