// Repeated chaos: a CMEM cluster (master, two groups of two cache nodes in sync mode, two
// access nodes) under continuous writes, while a random process is killed with SIGKILL
// and started again, twenty times. Every acknowledged write must be readable at the end,
// no request may wait more than 3 s, and every process must be back.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "testing/daemon_process.h"
#include "testing/held_port.h"
#include "testing/loopback_client.h"
#include "testing/temp_dir.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;
using testing::DaemonProcess;
using testing::Eventually;
using testing::LoopbackClient;

// An API call that may find the master down (it is one of the victims).
testing::HttpResponse HttpCall(uint16_t port, const std::string& method, const std::string& path,
                               const std::string& body) {
  try {
    return testing::HttpRequest(port, method, path, body);
  } catch (const std::exception&) {
    return {};
  }
}

// One process of the cluster, restartable on the same address (held by the fixture).
struct Member {
  std::string name;
  std::vector<std::string> args;
  std::string listening;  // The log line name to wait for.
  std::unique_ptr<DaemonProcess> process;

  void Start() {
    process = std::make_unique<DaemonProcess>(args);
    process->WaitForListening(listening, 20s);
  }
};

class ChaosTest : public ::testing::Test {
 protected:
  ChaosTest() {
    master_port_ = Hold();
    const std::string master_url = "http://127.0.0.1:" + std::to_string(master_port_);
    members_.push_back(
        {"master",
         {"master", "--listen", "127.0.0.1:" + std::to_string(master_port_), "--data",
          data_.path().string(), "--probe-interval", "0.2", "--failure-threshold", "3"},
         "master",
         nullptr});
    members_.back().Start();
    // Both groups before any node, so that they share the slots (cluster_map.h).
    for (const char* group : {"g1", "g2"}) {
      HttpCall(master_port_, "POST", "/v1/groups", std::string(R"({"name": ")") + group + "\"}");
      HttpCall(master_port_, "POST", std::string("/v1/groups/") + group + "/mode",
               R"({"mode": "sync"})");
    }
    for (const char* group : {"g1", "g2"}) {
      for (int i = 0; i < 2; ++i) {
        const uint16_t port = Hold();
        members_.push_back({std::string(group) + "-" + std::to_string(i),
                            {"cache", "--listen", "127.0.0.1:" + std::to_string(port), "--threads",
                             "1", "--memory", "64", "--master", master_url, "--group", group,
                             "--sync-refuse", "--sync-timeout", "1"},
                            "cache",
                            nullptr});
        members_.back().Start();
      }
    }
    for (int i = 0; i < 2; ++i) {
      access_ports_.push_back(Hold());
      members_.push_back({"access-" + std::to_string(i),
                          {"access", "--listen", "127.0.0.1:" + std::to_string(access_ports_[i]),
                           "--threads", "1", "--backend-timeout", "1", "--master", master_url},
                          "access",
                          nullptr});
      members_.back().Start();
    }
  }

  // A port held for the whole test: every member comes back on its own.
  uint16_t Hold() { return holds_.emplace_back().port(); }

  // Every group has a healthy main and a healthy backup that finished its snapshot.
  bool Settled() {
    const testing::HttpResponse response = HttpCall(master_port_, "GET", "/v1/cluster", "");
    const nlohmann::json map = nlohmann::json::parse(response.body, nullptr, false);
    if (response.status != 200 || map.is_discarded()) {
      return false;
    }
    for (const nlohmann::json& group : map["groups"]) {
      bool main_up = false;
      bool backup_ready = false;
      for (const nlohmann::json& node : group["nodes"]) {
        main_up = main_up || (node["role"] == "main" && node["healthy"] == true);
        backup_ready = backup_ready || (node["role"] == "backup" && node["healthy"] == true &&
                                        node["sequence"].get<uint64_t>() > 0);
      }
      if (!main_up || !backup_ready) {
        return false;
      }
    }
    return true;
  }

  testing::TempDir data_;
  std::vector<testing::HeldPort> holds_;
  uint16_t master_port_ = 0;
  std::vector<uint16_t> access_ports_;
  std::vector<Member> members_;
};

TEST_F(ChaosTest, TwentyKillsLoseNoAcknowledgedWriteAndHangNoClient) {
  std::atomic<bool> stop{false};
  std::atomic<int> hangs{0};
  std::mutex mu;
  std::map<std::string, std::string> acknowledged;
  auto writer = [&](int id) {
    std::unique_ptr<LoopbackClient> client;
    for (int n = 0; !stop.load(); ++n) {
      if (!client) {
        try {
          client = std::make_unique<LoopbackClient>(access_ports_[(id + n) % 2]);
        } catch (const std::exception&) {
          std::this_thread::sleep_for(50ms);  // Paces retries while that access node is down.
          continue;
        }
      }
      const std::string key = "w" + std::to_string(id) + "-" + std::to_string(n);
      const std::string value = "v" + std::to_string(n);
      const auto start = std::chrono::steady_clock::now();
      client->Send("set " + key + " 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n");
      const std::string reply = client->ReadUntil("\r\n", 4s);
      if (std::chrono::steady_clock::now() - start > 3s) {
        ++hangs;
      }
      if (reply == "STORED\r\n") {
        std::lock_guard lock(mu);
        acknowledged[key] = value;
      } else if (reply.empty()) {
        client.reset();  // That access node went away: use the other one.
      }
    }
  };
  std::vector<std::thread> writers;
  // However the test ends, the writers stop and are joined first: a failed ASSERT that
  // left them joinable would end the process in std::terminate, skipping the fixture that
  // stops the cluster's processes.
  struct JoinWriters {
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~JoinWriters() { Join(); }
    void Join() {
      stop = true;
      for (std::thread& thread : threads) {
        if (thread.joinable()) {
          thread.join();
        }
      }
    }
  } join_writers{stop, writers};
  for (int id = 0; id < 2; ++id) {
    writers.emplace_back(writer, id);
  }
  ASSERT_TRUE(Eventually([&] { return Settled(); }, 10s));
  std::mt19937 random(2026);
  std::vector<std::string> killed;
  for (int round = 0; round < 20; ++round) {
    Member& victim = members_[random() % members_.size()];
    killed.push_back(victim.name);
    victim.process.reset();  // SIGKILL
    // Paces: the victim stays down for a random while.
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + random() % 400));
    victim.Start();
    // The next kill waits until the cluster has recovered: with two nodes per group, two
    // failures before a resync lose data whatever the system (that is not this test).
    ASSERT_TRUE(Eventually([&] { return Settled(); }, 10s))
        << "round " << round << " after killing " << victim.name;
  }
  // The recovered cluster takes writes again before the writers stop.
  const size_t recovered = [&] {
    std::lock_guard lock(mu);
    return acknowledged.size();
  }();
  EXPECT_TRUE(Eventually(
      [&] {
        std::lock_guard lock(mu);
        return acknowledged.size() >= recovered + 20;
      },
      5s));
  join_writers.Join();

  ASSERT_GT(acknowledged.size(), 200u);
  LoopbackClient reader(access_ports_[0]);
  int lost = 0;
  for (const auto& [key, value] : acknowledged) {
    reader.Send("get " + key + "\r\n");
    lost += reader.ReadUntil("END\r\n", 5s) !=
            "VALUE " + key + " 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\nEND\r\n";
  }
  std::cout << "chaos: " << acknowledged.size() << " acknowledged writes, " << lost << " lost, "
            << hangs.load() << " requests over 3 s; killed " << ::testing::PrintToString(killed)
            << "\n";
  EXPECT_EQ(lost, 0) << "of " << acknowledged.size() << " acknowledged writes; killed "
                     << ::testing::PrintToString(killed);
  EXPECT_EQ(hangs.load(), 0);
  for (Member& member : members_) {
    EXPECT_EQ(kill(member.process->pid(), 0), 0) << member.name << " is not running";
  }
}

}  // namespace
}  // namespace trellis
