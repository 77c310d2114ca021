// The master with real processes: two cache nodes of one group that take their roles
// from it, an access node that routes by its map, a main killed under load.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
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
using ::testing::HasSubstr;
using testing::LoopbackClient;

using testing::HttpRequest;

class MasterTest : public ::testing::Test {
 protected:
  MasterTest()
      : master_({"master", "--listen", master_hold_.address(), "--data", data_.path().string(),
                 "--probe-interval", "0.2", "--failure-threshold", "3"}) {
    master_port_ = master_.WaitForListening("master");
    master_admin_port_ = master_.WaitForListening("admin");
    master_url_ = "http://127.0.0.1:" + std::to_string(master_port_);
    EXPECT_EQ(HttpRequest(master_port_, "POST", "/v1/groups", R"({"name": "g1"})").status, 201);
    EXPECT_EQ(HttpRequest(master_port_, "POST", "/v1/groups/g1/mode", R"({"mode": "sync"})").status,
              200);
    for (int i = 0; i < 2; ++i) {
      node_holds_.emplace_back();
      node_ports_.push_back(node_holds_.back().port());
      StartNode(i);
    }
    access_ = std::make_unique<DaemonProcess>(
        std::vector<std::string>{"access", "--listen", "127.0.0.1:0", "--threads", "1",
                                 "--backend-timeout", "1", "--master", master_url_});
    access_port_ = access_->WaitForListening("access");
    access_admin_port_ = access_->WaitForListening("admin");
    // The backup streams from the main before the tests write.
    EXPECT_TRUE(testing::StatsShow(node_ports_[0], "STAT replication_backups 1", 5s));
  }

  void StartNode(int i) {
    nodes_[i] = std::make_unique<DaemonProcess>(
        std::vector<std::string>{"cache", "--listen", "127.0.0.1:" + std::to_string(node_ports_[i]),
                                 "--threads", "1", "--master", master_url_, "--group", "g1"});
    nodes_[i]->WaitForListening("cache");
    node_admin_ports_[i] = nodes_[i]->WaitForListening("admin");
  }

  nlohmann::json Cluster() {
    return nlohmann::json::parse(HttpRequest(master_port_, "GET", "/v1/cluster", "").body);
  }
  std::string MainAddress() {
    const nlohmann::json main = Cluster()["groups"][0]["main"];
    return main.is_string() ? main.get<std::string>() : "";
  }
  // Node i's replication mode ("sync" or "async") as it reports it.
  std::string ModeOf(int i) {
    const nlohmann::json status =
        nlohmann::json::parse(testing::HttpGet(node_admin_ports_[i], "/v1/status").body);
    return status["replication"]["mode"].get<std::string>();
  }

  testing::TempDir data_;
  // Held for the whole test: the master and the nodes come back on their addresses.
  testing::HeldPort master_hold_;
  std::vector<testing::HeldPort> node_holds_;
  DaemonProcess master_;
  uint16_t master_port_ = 0;
  uint16_t master_admin_port_ = 0;
  std::string master_url_;
  std::vector<uint16_t> node_ports_;
  std::map<int, std::unique_ptr<DaemonProcess>> nodes_;
  std::map<int, uint16_t> node_admin_ports_;
  std::unique_ptr<DaemonProcess> access_;
  uint16_t access_port_ = 0;
  uint16_t access_admin_port_ = 0;
};

TEST_F(MasterTest, NodesTakeTheirRolesAndAccessRoutesByTheMap) {
  const nlohmann::json group = Cluster()["groups"][0];
  EXPECT_EQ(group["main"], "127.0.0.1:" + std::to_string(node_ports_[0]));
  ASSERT_EQ(group["nodes"].size(), 2u);
  EXPECT_EQ(group["nodes"][1]["role"], "backup");
  // The probes learn each node's pid; `trellis cluster status` shows them in its table.
  EXPECT_TRUE(Eventually(
      [&] { return Cluster()["groups"][0]["nodes"][0]["pid"] == nodes_[0]->pid(); }, 3s));
  // A backup that follows reports how old its main's last heartbeat is: well under 1 s.
  EXPECT_TRUE(Eventually(
      [&] {
        const nlohmann::json lag = Cluster()["groups"][0]["nodes"][1]["lag_ms"];
        return lag.is_number() && lag.get<int64_t>() < 1000;
      },
      3s));
  DaemonProcess status({"cluster", "status", "--master", master_url_});
  ASSERT_TRUE(status.WaitExit(10s).has_value());
  EXPECT_THAT(status.Log(),
              ::testing::ContainsRegex("g1 +16384 +[0-9]+ backup .* [0-9]+\\.[0-9] +up +"));
  EXPECT_THAT(status.Log(), ::testing::ContainsRegex("g1 +16384 +[0-9]+ main .* up +" +
                                                     std::to_string(nodes_[0]->pid())));
  LoopbackClient client(access_port_);
  ASSERT_TRUE(Eventually(
      [&] {
        client.Send("set k 0 0 1\r\nv\r\n");
        return client.ReadUntil("\r\n") == "STORED\r\n";
      },
      5s));
  LoopbackClient backup(node_ports_[1]);
  backup.Send("set direct 0 0 1\r\nx\r\nget k\r\n");
  EXPECT_EQ(backup.ReadUntil("END\r\n"),
            "SERVER_ERROR read only: this node is a backup\r\nVALUE k 0 1\r\nv\r\nEND\r\n")
      << "in sync mode an acknowledged write is on the backup at once";
  // Bad API calls get a 4xx and a JSON error.
  for (const auto& [method, path, body] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"POST", "/v1/groups", "{not json"},
           {"POST", "/v1/groups", R"({"name": 7})"},
           {"POST", "/v1/nodes", R"({"group": "nope", "address": "127.0.0.1:1"})"},
           {"POST", "/v1/groups/g1/mode", R"({"mode": "fast"})"},
           {"DELETE", "/v1/nodes/127.0.0.1:1", ""}}) {
    const testing::HttpResponse response = HttpRequest(master_port_, method, path, body);
    EXPECT_GE(response.status, 400) << method << " " << path << " " << body;
    EXPECT_LT(response.status, 500);
    EXPECT_TRUE(nlohmann::json::parse(response.body, nullptr, false).contains("error"))
        << response.body;
  }
}

// The number in the line "STAT <name> N" of `stats` on `client`'s node, or -1.
int64_t Stat(LoopbackClient& client, const std::string& name) {
  client.Send("stats\r\n");
  const std::string stats = client.ReadUntil("END\r\n");
  std::smatch match;
  return std::regex_search(stats, match, std::regex("STAT " + name + " ([0-9]+)\r\n"))
             ? std::stoll(match[1].str())
             : -1;
}

// A client writes continuously (pipelined batches of 20, so that in async mode some
// writes are acknowledged before the backup has them); the main is killed. Returns how
// many acknowledged writes are missing afterwards, with the outage (the time from the kill
// to the next acknowledged write; none if none came within 10 s) in *outage, and prints
// the figures for `mode`.
int KillMainUnderLoad(const std::string& mode, uint16_t access_port, DaemonProcess& main,
                      std::optional<std::chrono::steady_clock::duration>* outage,
                      size_t* acknowledged_count) {
  LoopbackClient client(access_port);
  std::map<std::string, std::string> acknowledged;
  int next = 0;
  // Sends a batch of 20 sets; records the acknowledged ones; true if any was.
  auto batch = [&]() {
    std::string request;
    std::vector<std::string> keys;
    for (int j = 0; j < 20; ++j, ++next) {
      keys.push_back("w" + std::to_string(next));
      request += "set " + keys.back() + " 0 0 " + std::to_string(keys.back().size()) + "\r\n" +
                 keys.back() + "\r\n";
    }
    client.Send(request + "mn\r\n");
    const std::string replies = client.ReadUntil("MN\r\n", 5s);
    size_t at = 0;
    bool any = false;
    for (const std::string& key : keys) {
      const size_t end = replies.find("\r\n", at);
      if (end == std::string::npos) {
        break;
      }
      if (replies.compare(at, end - at, "STORED") == 0) {
        acknowledged[key] = key;
        any = true;
      }
      at = end + 2;
    }
    return any;
  };
  for (int i = 0; i < 50; ++i) {
    batch();
  }
  main.Signal(SIGKILL);
  const auto killed = std::chrono::steady_clock::now();
  // No pause between tries: the outage is measured to the batch.
  if (Eventually(batch, 10s, 0ms)) {
    *outage = std::chrono::steady_clock::now() - killed;
  }
  for (int i = 0; i < 10; ++i) {
    batch();
  }
  int missing = 0;
  for (const auto& [key, value] : acknowledged) {
    client.Send("get " + key + "\r\n");
    missing += client.ReadUntil("END\r\n") != "VALUE " + key + " 0 " +
                                                  std::to_string(value.size()) + "\r\n" + value +
                                                  "\r\nEND\r\n";
  }
  *acknowledged_count = acknowledged.size();
  std::cout << "failover (" << mode << "): " << acknowledged.size() << " acknowledged, " << missing
            << " lost, "
            << (outage->has_value()
                    ? std::to_string(
                          std::chrono::duration_cast<std::chrono::milliseconds>(**outage).count())
                    : std::string("over 10000"))
            << " ms without writes\n";
  return missing;
}

// Sync mode: the service comes back (how soon is printed) and every acknowledged write is
// there; the old main rejoins as a backup and catches up.
TEST_F(MasterTest, KilledMainIsReplacedAndNoAcknowledgedWriteIsLost) {
  LoopbackClient probe(access_port_);
  ASSERT_TRUE(Eventually(
      [&] {
        probe.Send("set first 0 0 1\r\nx\r\n");
        return probe.ReadUntil("\r\n") == "STORED\r\n";
      },
      5s));
  std::optional<std::chrono::steady_clock::duration> outage;
  size_t acknowledged = 0;
  const int missing = KillMainUnderLoad("sync", access_port_, *nodes_[0], &outage, &acknowledged);
  EXPECT_TRUE(outage.has_value()) << "no write acknowledged within 10 s of the kill";
  EXPECT_GT(acknowledged, 900u);
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(MainAddress(), "127.0.0.1:" + std::to_string(node_ports_[1]));
  EXPECT_EQ(Cluster()["groups"][0]["epoch"], 2);
  const std::string metrics = testing::HttpGet(master_admin_port_, "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("trellis_master_failovers_total{kind=\"automatic\"} 1\n"));
  EXPECT_THAT(metrics, HasSubstr("trellis_master_nodes_down 1\n"));

  // The old main comes back: it is told it is a backup and catches up with the new main.
  nodes_[0].reset();
  StartNode(0);
  LoopbackClient old_main(node_ports_[0]);
  LoopbackClient new_main(node_ports_[1]);
  auto same = [&](const std::string& key) {
    new_main.Send("mg " + key + " v c f\r\nmn\r\n");
    old_main.Send("mg " + key + " v c f\r\nmn\r\n");
    return new_main.ReadUntil("MN\r\n") == old_main.ReadUntil("MN\r\n");
  };
  EXPECT_TRUE(Eventually([&] { return same("w0") && same("w1199"); }, 5s));
  int differ = 0;
  for (int i = 0; i < 1200; ++i) {
    differ += !same("w" + std::to_string(i));
  }
  EXPECT_EQ(differ, 0);
  old_main.Send("set x 0 0 1\r\nx\r\n");
  EXPECT_EQ(old_main.ReadUntil("\r\n"), "SERVER_ERROR read only: this node is a backup\r\n");
}

// A main restarted (empty) before the master noticed: its backup, which still follows
// it, must not take the empty node's store as a snapshot and drop its items. The master
// is paused so that the backup keeps trying the restarted node for a while.
TEST_F(MasterTest, ABackupKeepsItsItemsWhenItsMainRestartsEmpty) {
  LoopbackClient client(access_port_);
  for (int i = 0; i < 200; ++i) {  // Sync mode: each is on the backup when answered.
    client.Send("set r" + std::to_string(i) + " 0 0 1\r\nr\r\n");
    ASSERT_EQ(client.ReadUntil("\r\n"), "STORED\r\n");
  }
  ASSERT_TRUE(master_.Pause());
  nodes_[0].reset();  // Killed,
  StartNode(0);       // and back on its address, empty, waiting for the master.
  // The backup, still following it, connects every 200 ms: let it try a few times (three
  // connections besides this one; the access node's would count too).
  LoopbackClient restarted(node_ports_[0]);
  ASSERT_TRUE(Eventually([&] { return Stat(restarted, "total_connections") >= 4; }, 5s))
      << "nothing connected to the restarted node";
  master_.Signal(SIGCONT);
  EXPECT_TRUE(Eventually(
      [&] { return MainAddress() == "127.0.0.1:" + std::to_string(node_ports_[1]); }, 5s));
  LoopbackClient backup(node_ports_[1]);
  int missing = 0;
  for (int i = 0; i < 200; ++i) {
    backup.Send("get r" + std::to_string(i) + "\r\n");
    missing += backup.ReadUntil("END\r\n") == "END\r\n";
  }
  EXPECT_EQ(missing, 0);
}

// Async mode: what a failover loses is measured and reported (no bound promised).
TEST_F(MasterTest, AsyncFailoverLossIsMeasured) {
  ASSERT_EQ(HttpRequest(master_port_, "POST", "/v1/groups/g1/mode", R"({"mode": "async"})").status,
            200);
  ASSERT_TRUE(Eventually([&] { return ModeOf(0) == "async" && ModeOf(1) == "async"; }, 5s));
  std::optional<std::chrono::steady_clock::duration> outage;
  size_t acknowledged = 0;
  const int missing = KillMainUnderLoad("async", access_port_, *nodes_[0], &outage, &acknowledged);
  EXPECT_TRUE(outage.has_value()) << "no write acknowledged within 10 s of the kill";
  EXPECT_LE(static_cast<size_t>(missing), acknowledged);
}

// A switchover asked by the operator loses nothing even in async mode: the main stops
// taking writes until the backup has everything, then the backup takes over.
TEST_F(MasterTest, ManualSwitchoverLosesNoWriteInAsyncMode) {
  ASSERT_EQ(HttpRequest(master_port_, "POST", "/v1/groups/g1/mode", R"({"mode": "async"})").status,
            200);
  std::atomic<bool> done{false};
  std::atomic<int> sent{0};
  std::map<std::string, std::string> acknowledged;  // The writer's until it is joined.
  // Writes go on after the switchover until 150 were acknowledged in all (writes are
  // refused while the main is frozen and until the access node routes to the new one),
  // or 10 s passed.
  std::atomic<std::chrono::steady_clock::time_point> deadline{
      std::chrono::steady_clock::time_point::max()};
  std::thread writer([&] {
    LoopbackClient client(access_port_);
    for (int i = 0; !done.load() || (acknowledged.size() < 150 &&
                                     std::chrono::steady_clock::now() < deadline.load());
         ++i, ++sent) {
      const std::string key = "s" + std::to_string(i);
      client.Send("set " + key + " 0 0 " + std::to_string(key.size()) + "\r\n" + key + "\r\n");
      if (client.ReadUntil("\r\n", 5s) == "STORED\r\n") {
        acknowledged[key] = key;
      }
    }
  });
  // The switchover starts with writes under way.
  EXPECT_TRUE(Eventually([&] { return sent.load() >= 50; }, 5s));
  const testing::HttpResponse switched =
      HttpRequest(master_port_, "POST", "/v1/groups/g1/failover", "");
  deadline = std::chrono::steady_clock::now() + 10s;
  done = true;
  writer.join();
  ASSERT_EQ(switched.status, 200) << switched.body;
  EXPECT_EQ(MainAddress(), "127.0.0.1:" + std::to_string(node_ports_[1]));
  ASSERT_GT(acknowledged.size(), 100u);
  LoopbackClient new_main(node_ports_[1]);
  int missing = 0;
  for (const auto& [key, value] : acknowledged) {
    new_main.Send("get " + key + "\r\n");
    missing += new_main.ReadUntil("END\r\n") == "END\r\n";
  }
  EXPECT_EQ(missing, 0) << "of " << acknowledged.size();
}

// Access nodes follow the map by long-poll: every change reaches them. How soon (the issue
// asks for 100 ms) is measured over 20 changes and printed for bench/RESULTS.md.
TEST_F(MasterTest, MapChangesReachAccessNodesAndTheDelayIsMeasured) {
  auto access_version = [&] {
    return nlohmann::json::parse(HttpRequest(access_admin_port_, "GET", "/v1/status", "")
                                     .body)["route_table"]["version"]
        .get<uint64_t>();
  };
  std::vector<double> delays_ms;
  for (int i = 0; i < 20; ++i) {
    const auto changed = std::chrono::steady_clock::now();
    const testing::HttpResponse reply =
        HttpRequest(master_port_, "POST", "/v1/groups/g1/mode",
                    i % 2 == 0 ? R"({"mode": "async"})" : R"({"mode": "sync"})");
    ASSERT_EQ(reply.status, 200);
    const uint64_t version = nlohmann::json::parse(reply.body)["version"].get<uint64_t>();
    // Polled every millisecond, finer than the delay measured.
    ASSERT_TRUE(Eventually([&] { return access_version() >= version; }, 5s, 1ms))
        << "change " << i << " did not reach the access node";
    delays_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - changed)
            .count());
  }
  std::sort(delays_ms.begin(), delays_ms.end());
  std::cout << "propagation: median " << delays_ms[10] << " ms, max " << delays_ms.back()
            << " ms from the API call to the access node's route table (20 changes)\n";
}

TEST_F(MasterTest, ARestartedMasterHasTheSameMapAndNodesServeMeanwhile) {
  const nlohmann::json before = Cluster();
  master_.Signal(SIGKILL);
  master_.WaitExit(5s);
  // Paces, waits for nothing: the master stays away longer than a lease (0.6 s here), which
  // the main's backup renews meanwhile.
  std::this_thread::sleep_for(1500ms);
  LoopbackClient client(access_port_);
  client.Send("set during 0 0 1\r\nd\r\nget during\r\n");
  EXPECT_EQ(client.ReadUntil("END\r\n", 5s), "STORED\r\nVALUE during 0 1\r\nd\r\nEND\r\n")
      << "access and nodes keep serving without the master";
  DaemonProcess again(
      {"master", "--listen", master_hold_.address(), "--data", data_.path().string()});
  again.WaitForListening("master");
  const nlohmann::json after = Cluster();
  EXPECT_EQ(after["groups"][0]["main"], before["groups"][0]["main"]);
  EXPECT_EQ(after["groups"][0]["mode"], "sync");
  EXPECT_EQ(after["groups"][0]["nodes"].size(), 2u);
  EXPECT_GE(after["version"].get<int>(), before["version"].get<int>());
}

}  // namespace
}  // namespace trellis
