// Two operators ask for a failover of the same group at the same moment as the master's
// own probes find its main dead: exactly one node is promoted. A group of a main and two
// backups, so that a second promotion would be visible (the epoch would go up twice).
#include <gtest/gtest.h>
#include <signal.h>

#include <future>
#include <iostream>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "testing/daemon_process.h"
#include "testing/held_port.h"
#include "testing/loopback_client.h"
#include "testing/temp_dir.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::DaemonProcess;
using testing::Eventually;
using testing::HttpGet;
using testing::HttpRequest;

class FailoverRaceTest : public ::testing::Test {
 protected:
  FailoverRaceTest()
      : master_({"master", "--listen", "127.0.0.1:0", "--data", data_.path().string(),
                 "--probe-interval", "0.1", "--failure-threshold", "2"}) {
    port_ = master_.WaitForListening("master");
    admin_ = master_.WaitForListening("admin");
    EXPECT_EQ(HttpRequest(port_, "POST", "/v1/groups", R"({"name": "g1"})").status, 201);
    for (int i = 0; i < 3; ++i) {
      holds_.emplace_back();
      ports_.push_back(holds_.back().port());
      Start(i);
      // Registered in this order: the first is the main.
      EXPECT_TRUE(Eventually([&] { return Group()["nodes"].size() == size_t(i + 1); }, 5s));
    }
  }

  void Start(int i) {
    nodes_[i] = std::make_unique<DaemonProcess>(std::vector<std::string>{
        "cache", "--listen", holds_[i].address(), "--threads", "1", "--master",
        "http://127.0.0.1:" + std::to_string(port_), "--group", "g1"});
    nodes_[i]->WaitForListening("cache");
  }

  json Group() { return json::parse(HttpGet(port_, "/v1/cluster").body)["groups"][0]; }
  int MainIndex() {
    const json main = Group()["main"];
    for (int i = 0; i < 3; ++i) {
      if (main == "127.0.0.1:" + std::to_string(ports_[i])) {
        return i;
      }
    }
    return -1;
  }
  bool Healthy(int i) {
    const json group = Group();
    for (const json& node : group["nodes"]) {
      if (node["address"] == "127.0.0.1:" + std::to_string(ports_[i])) {
        return node["healthy"];
      }
    }
    return false;
  }
  // Failovers of both kinds so far.
  int64_t Failovers() {
    const std::string page = HttpGet(admin_, "/metrics").body;
    int64_t total = 0;
    const std::regex line(R"(trellis_master_failovers_total\{kind="[a-z]+"\} ([0-9]+))");
    for (auto it = std::sregex_iterator(page.begin(), page.end(), line);
         it != std::sregex_iterator(); ++it) {
      total += std::stoll((*it)[1]);
    }
    return total;
  }

  testing::TempDir data_;
  DaemonProcess master_;
  uint16_t port_ = 0;
  uint16_t admin_ = 0;
  std::vector<testing::HeldPort> holds_;  // The nodes' ports, kept across restarts.
  std::vector<uint16_t> ports_;
  std::map<int, std::unique_ptr<DaemonProcess>> nodes_;
};

TEST_F(FailoverRaceTest, ConcurrentFailoversAndAProbeDrivenOnePromoteExactlyOneNode) {
  // Round 0 asks at once, before the probes noticed; round 1 asks as the probes find the
  // main down, when the master's own failover is due.
  for (int round = 0; round < 2; ++round) {
    const int dead = MainIndex();
    ASSERT_GE(dead, 0);
    const uint64_t epoch = Group()["epoch"];
    const int64_t failovers = Failovers();
    nodes_[dead]->Signal(SIGKILL);
    ASSERT_TRUE(nodes_[dead]->WaitExit(5s).has_value());
    if (round == 1) {
      ASSERT_TRUE(Eventually([&] { return !Healthy(dead); }, 5s));
    }
    const std::string body = json{{"epoch", epoch}}.dump();
    auto ask = [&] { return HttpRequest(port_, "POST", "/v1/groups/g1/failover", body).status; };
    auto first = std::async(std::launch::async, ask);
    auto second = std::async(std::launch::async, ask);
    const int first_status = first.get();
    const int second_status = second.get();
    // Settled: the dead main is seen down and a new main took over (once the map names a
    // live main, neither the probes nor a finished request can promote again).
    ASSERT_TRUE(Eventually([&] { return !Healthy(dead) && MainIndex() != dead; }, 10s));
    EXPECT_EQ(Group()["epoch"], epoch + 1) << "round " << round;
    EXPECT_EQ(Failovers(), failovers + 1) << "round " << round;
    EXPECT_TRUE((first_status == 200) + (second_status == 200) <= 1)
        << first_status << " " << second_status;
    EXPECT_TRUE(first_status == 200 || first_status == 409) << first_status;
    EXPECT_TRUE(second_status == 200 || second_status == 409) << second_status;
    std::cout << "round " << round << ": answers " << first_status << " and " << second_status
              << ", epoch " << epoch << " -> " << Group()["epoch"] << "\n";
    // The dead node comes back as a backup for the next round.
    Start(dead);
    ASSERT_TRUE(Eventually([&] { return Healthy(dead); }, 10s)) << Group().dump();
  }
}

}  // namespace
}  // namespace trellis
