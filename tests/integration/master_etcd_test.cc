// Several masters on a real etcd (docs/deploy.md): one leads, the others follow and
// redirect; killing the leader elects another, which still fails over a dead main;
// access nodes never go back to an older map; with one etcd member of three down the
// control plane works, with two it stops changing the map while the data path serves,
// and it recovers when they return; a leader paused past its lease comes back as a
// follower and changes nothing.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "testing/daemon_process.h"
#include "testing/etcd_cluster.h"
#include "testing/held_port.h"
#include "testing/load_checker.h"
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
using testing::LoopbackClient;

class MasterEtcdTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure()) {
      for (auto& [i, master] : masters_) {
        std::cout << "--- master " << i << "\n" << master->Log();
      }
    }
  }

  // `members` etcd members and `masters` masters on them.
  void Start(int members, int masters) {
    StartEtcd(members);
    for (int i = 0; i < masters; ++i) {
      AddMasterAddress("127.0.0.1");
    }
    for (int i = 0; i < masters; ++i) {
      StartMaster(i);
    }
  }
  // The next master's address: a held port on `host` (a loopback address).
  void AddMasterAddress(const std::string& host) {
    master_holds_.emplace_back();
    master_dirs_.emplace_back();
    master_hosts_.push_back(host);
    master_urls_ +=
        (master_urls_.empty() ? "" : ",") + ("http://" + MasterAddress(master_hosts_.size() - 1));
  }
  std::string MasterAddress(size_t i) {
    return master_hosts_[i] + ":" + std::to_string(master_holds_[i].port());
  }
  void StartEtcd(int members) { StartEtcd(std::vector<std::string>(members, "127.0.0.1")); }
  void StartEtcd(const std::vector<std::string>& hosts) {
    etcd_ = std::make_unique<testing::EtcdCluster>(hosts);
    for (const std::string& url : etcd_->client_urls()) {
      endpoints_ += (endpoints_.empty() ? "" : ",") + url;
    }
  }
  void StartMaster(int i) {
    masters_[i] = std::make_unique<DaemonProcess>(std::vector<std::string>{
        "master", "--listen", MasterAddress(i), "--data", master_dirs_[i].path().string(), "--etcd",
        endpoints_, "--etcd-prefix", "/trellis/test", "--probe-interval", "0.1",
        "--failure-threshold", "3"});
    masters_[i]->WaitForListening("master");
  }
  void KillMaster(int i) {
    masters_[i]->Signal(SIGKILL);
    masters_[i]->WaitExit(5s);
    masters_.erase(i);
  }

  // The master that leads: the one that answers GET /v1/migrations itself (the others
  // redirect it); -1 while none or more than one does.
  int Leader() {
    int leader = -1;
    for (auto& [i, master] : masters_) {
      if (master != nullptr && Status(i, "GET", "/v1/migrations") == 200) {
        if (leader != -1) {
          return -1;
        }
        leader = i;
      }
    }
    return leader;
  }
  int Status(int i, const std::string& method, const std::string& path,
             const std::string& body = "") {
    try {
      return testing::HttpRequestAt(master_hosts_[i], master_holds_[i].port(), method, path, body)
          .status;
    } catch (const std::exception&) {
      return 0;  // Not answering.
    }
  }
  // The map as master `i` serves it.
  // The map as master `i` holds it, leader or follower: what a long-poll for anything
  // after version 0 answers at once (a plain GET goes to the leader).
  json Cluster(int i) {
    const testing::HttpResponse map =
        testing::HttpGetAt(master_hosts_[i], master_holds_[i].port(), "/v1/cluster?after=0&wait=0");
    return map.status == 304 ? json{{"version", 0}, {"groups", json::array()}}
                             : json::parse(map.body);
  }

  // A group of two cache nodes in sync mode and an access node, all given every master.
  void StartCacheCluster(int leader) {
    ASSERT_EQ(Status(leader, "POST", "/v1/groups", R"({"name": "g1"})"), 201);
    ASSERT_EQ(Status(leader, "POST", "/v1/groups/g1/mode", R"({"mode": "sync"})"), 200);
    for (int i = 0; i < 2; ++i) {
      node_holds_.emplace_back();
      nodes_.push_back(std::make_unique<DaemonProcess>(
          std::vector<std::string>{"cache", "--listen", node_holds_[i].address(), "--threads", "1",
                                   "--master", master_urls_, "--group", "g1"}));
      nodes_[i]->WaitForListening("cache");
      ASSERT_TRUE(
          Eventually([&] { return Cluster(leader)["groups"][0]["nodes"].size() == i + 1u; }, 10s));
    }
    ASSERT_TRUE(testing::StatsShow(node_holds_[0].port(), "STAT replication_backups 1", 10s));
    access_ = std::make_unique<DaemonProcess>(
        std::vector<std::string>{"access", "--listen", "127.0.0.1:0", "--threads", "1",
                                 "--backend-timeout", "1", "--master", master_urls_});
    access_port_ = access_->WaitForListening("access");
    access_admin_port_ = access_->WaitForListening("admin");
  }
  // A set and a get through the access node.
  bool StoresAndReads(const std::string& key) {
    try {
      LoopbackClient client(access_port_);
      client.Send("set " + key + " 0 0 1\r\nv\r\n");
      if (client.ReadUntil("\r\n", 3s) != "STORED\r\n") {
        return false;
      }
      client.Send("get " + key + "\r\n");
      return client.ReadUntil("END\r\n", 3s) == "VALUE " + key + " 0 1\r\nv\r\nEND\r\n";
    } catch (const std::exception&) {
      return false;
    }
  }
  // Stops the load and checks every key: no acknowledged write lost, no violation.
  static void StopAndVerify(testing::LoadChecker& checker) {
    checker.Stop();
    checker.VerifyAll();
    const testing::LoadCheckerReport report = checker.Report();
    EXPECT_EQ(report.violations, 0u)
        << (report.first_violations.empty() ? "" : report.first_violations[0]);
    std::cout << report.operations << " operations, " << report.errors << " errors\n";
    for (const std::string& error : report.first_errors) {
      std::cout << "  " << error << "\n";
    }
  }
  uint64_t AccessMapVersion() {
    return json::parse(HttpGet(access_admin_port_, "/v1/status").body)["route_table"]["version"];
  }

  std::unique_ptr<testing::EtcdCluster> etcd_;
  std::string endpoints_;  // Every etcd member, comma-separated.
  std::vector<testing::HeldPort> master_holds_;
  std::deque<testing::TempDir> master_dirs_;  // A deque: TempDir does not move.
  std::vector<std::string> master_hosts_;     // Each master's loopback address.
  std::string master_urls_;                   // Every master, comma-separated.
  std::map<int, std::unique_ptr<DaemonProcess>> masters_;
  std::vector<testing::HeldPort> node_holds_;
  std::vector<std::unique_ptr<DaemonProcess>> nodes_;
  std::unique_ptr<DaemonProcess> access_;
  uint16_t access_port_ = 0;
  uint16_t access_admin_port_ = 0;
};

TEST_F(MasterEtcdTest, FollowersServeTheMapAndRedirectChangesToTheLeader) {
  Start(1, 2);
  ASSERT_TRUE(Eventually([&] { return Leader() != -1; }, 10s));
  const int leader = Leader();
  const int follower = 1 - leader;
  // Once the follower has seen who leads (its next campaign try, within 0.5 s).
  ASSERT_TRUE(Eventually([&] { return Status(follower, "GET", "/v1/migrations") == 307; }, 5s));
  const testing::HttpResponse redirected = testing::HttpRequestAt(
      "127.0.0.1", master_holds_[follower].port(), "POST", "/v1/groups", R"({"name": "g1"})");
  EXPECT_EQ(redirected.status, 307);
  // A plain read of the map too (the leader's carries what its probes found).
  EXPECT_EQ(Status(follower, "GET", "/v1/cluster"), 307);
  EXPECT_NE(redirected.headers.find("http://" + master_holds_[leader].address() + "/v1/groups"),
            std::string::npos)
      << redirected.headers;
  // `trellis cluster` given both masters, the follower first, follows the redirect.
  DaemonProcess add({"cluster", "add-group", "g1", "--master",
                     "http://" + master_holds_[follower].address() + ",http://" +
                         master_holds_[leader].address()});
  ASSERT_EQ(add.WaitExit(10s), 0) << add.Log();
  ASSERT_TRUE(Eventually([&] { return Cluster(follower)["groups"].size() == 1; }, 5s));
  EXPECT_EQ(Cluster(follower)["version"], Cluster(leader)["version"]);
  // Masters restarted, the leader cleanly (it resigns), read the same map from etcd.
  const json map = Cluster(leader);
  KillMaster(follower);
  masters_[leader]->Signal(SIGTERM);
  ASSERT_TRUE(masters_[leader]->WaitExit(10s).has_value());
  masters_.erase(leader);
  StartMaster(follower);
  ASSERT_TRUE(Eventually([&] { return Leader() == follower; }, 10s));
  EXPECT_EQ(Cluster(follower)["version"], map["version"]);
  EXPECT_EQ(Cluster(follower)["groups"][0]["name"], "g1");
}

TEST_F(MasterEtcdTest, AnotherMasterLeadsWhenTheLeaderIsKilledAndStillFailsOverAMain) {
  Start(3, 3);
  ASSERT_TRUE(Eventually([&] { return Leader() != -1; }, 10s));
  StartCacheCluster(Leader());
  ASSERT_TRUE(Eventually([&] { return StoresAndReads("before"); }, 10s));
  // The access node's map versions, sampled all along: never one older than the last.
  std::atomic<bool> sampling = true;
  std::atomic<bool> went_back = false;
  std::thread sampler([&] {
    uint64_t last = 0;
    while (sampling) {
      try {
        const uint64_t version = AccessMapVersion();
        went_back = went_back || version < last;
        last = std::max(last, version);
      } catch (const std::exception&) {
      }
      std::this_thread::sleep_for(5ms);
    }
  });

  const int killed = Leader();
  const auto killed_at = std::chrono::steady_clock::now();
  KillMaster(killed);
  ASSERT_TRUE(Eventually([&] { return Leader() != -1; }, 15s));
  std::cout << "another master leads "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - killed_at)
                   .count()
            << " ms after the leader was killed\n";
  const int leader = Leader();
  const json group = Cluster(leader)["groups"][0];
  const std::string old_main = group["main"];
  const uint64_t epoch = group["epoch"];
  const int main = old_main == node_holds_[0].address() ? 0 : 1;
  nodes_[main]->Signal(SIGKILL);
  nodes_[main]->WaitExit(5s);
  ASSERT_TRUE(Eventually(
      [&] {
        const json now = Cluster(leader)["groups"][0];
        return now["main"] == node_holds_[1 - main].address() && now["epoch"] == epoch + 1;
      },
      15s));
  // What was acknowledged before (sync mode) is there, and writes go on.
  ASSERT_TRUE(Eventually(
      [&] {
        LoopbackClient client(access_port_);
        client.Send("get before\r\n");
        return client.ReadUntil("END\r\n", 3s) == "VALUE before 0 1\r\nv\r\nEND\r\n";
      },
      10s));
  EXPECT_TRUE(Eventually([&] { return StoresAndReads("after"); }, 10s));
  // Every master serves the same map.
  for (auto& [i, master] : masters_) {
    EXPECT_TRUE(Eventually([&] { return Cluster(i)["version"] == Cluster(leader)["version"]; }, 5s))
        << "master " << i;
  }
  EXPECT_TRUE(Eventually([&] { return AccessMapVersion() == Cluster(leader)["version"]; }, 5s));
  sampling = false;
  sampler.join();
  EXPECT_FALSE(went_back);
}

TEST_F(MasterEtcdTest, TheMapFreezesWithoutAnEtcdQuorumWhileTheDataPathServes) {
  Start(3, 2);
  ASSERT_TRUE(Eventually([&] { return Leader() != -1; }, 10s));
  StartCacheCluster(Leader());
  ASSERT_TRUE(Eventually([&] { return StoresAndReads("k0"); }, 10s));

  // One member of three down: the control plane goes on.
  etcd_->Kill(0);
  ASSERT_TRUE(Eventually(
      [&] {
        const int leader = Leader();
        return leader != -1 && Status(leader, "POST", "/v1/groups", R"({"name": "g2"})") == 201;
      },
      20s));

  // Every master, followers included, learns of it through the members left.
  const uint64_t version = Cluster(Leader())["version"];
  for (auto& [i, master] : masters_) {
    EXPECT_TRUE(Eventually([&] { return Cluster(i)["version"] == version; }, 10s)) << i;
  }

  // Two down: no quorum. The map stops changing; the data path serves with the last one.
  etcd_->Kill(1);
  for (int attempt = 0; attempt < 5; ++attempt) {
    for (auto& [i, master] : masters_) {
      EXPECT_NE(Status(i, "POST", "/v1/groups", R"({"name": "g3"})"), 201) << "master " << i;
    }
  }
  EXPECT_TRUE(StoresAndReads("k1"));
  for (auto& [i, master] : masters_) {
    const json map = Cluster(i);
    EXPECT_EQ(map["version"], version) << "master " << i;
    EXPECT_EQ(map["groups"].size(), 2u) << "master " << i;
  }

  // The members return: the control plane recovers. (A refused g3 may have been taken by
  // etcd, which commits it once it has a quorum again: a change answered with an error
  // may or may not happen, as with any call that times out.)
  etcd_->Restart(0);
  etcd_->Restart(1);
  EXPECT_TRUE(Eventually(
      [&] {
        const int leader = Leader();
        return leader != -1 && Status(leader, "POST", "/v1/groups", R"({"name": "g4"})") == 201;
      },
      30s));
  EXPECT_TRUE(StoresAndReads("k2"));
}

TEST_F(MasterEtcdTest, ALeaderPausedPastItsLeaseComesBackAsAFollowerAndChangesNothing) {
  Start(1, 2);
  ASSERT_TRUE(Eventually([&] { return Leader() != -1; }, 10s));
  const int paused = Leader();
  const int other = 1 - paused;
  ASSERT_EQ(Status(paused, "POST", "/v1/groups", R"({"name": "g1"})"), 201);
  ASSERT_TRUE(masters_[paused]->Pause());
  ASSERT_TRUE(Eventually([&] { return Status(other, "GET", "/v1/migrations") == 200; }, 15s));
  ASSERT_EQ(Status(other, "POST", "/v1/groups", R"({"name": "g2"})"), 201);
  masters_[paused]->Signal(SIGCONT);
  // At once, as it wakes: whatever it believes, its change does not happen.
  EXPECT_NE(Status(paused, "POST", "/v1/groups", R"({"name": "stale"})"), 201);
  EXPECT_TRUE(Eventually([&] { return Cluster(paused)["groups"].size() == 2; }, 5s));
  EXPECT_EQ(Leader(), other);
  for (int i : {paused, other}) {
    for (const json& group : Cluster(i)["groups"]) {
      EXPECT_NE(group["name"], "stale");
    }
  }
}

TEST_F(MasterEtcdTest, AMigrationFromSqliteCarriesALiveClusterOverWithoutAViolation) {
  StartEtcd(1);
  AddMasterAddress("127.0.0.1");
  // The one SQLite master, on the address its etcd-backed successor will take.
  masters_[0] = std::make_unique<DaemonProcess>(std::vector<std::string>{
      "master", "--listen", MasterAddress(0), "--data", master_dirs_[0].path().string(),
      "--probe-interval", "0.1", "--failure-threshold", "3"});
  masters_[0]->WaitForListening("master");
  StartCacheCluster(0);
  testing::LoadChecker checker({{access_port_}, 2, 1, 200, 64});
  checker.Start();
  ASSERT_TRUE(Eventually([&] { return checker.operations() > 2000; }, 20s));
  const uint64_t version = Cluster(0)["version"];

  masters_[0]->Signal(SIGTERM);
  ASSERT_TRUE(masters_[0]->WaitExit(10s).has_value());
  masters_.erase(0);
  DaemonProcess migrate({"master", "migrate-store", "--from", master_dirs_[0].path().string(),
                         "--to-etcd", endpoints_, "--etcd-prefix", "/trellis/test"});
  ASSERT_EQ(migrate.WaitExit(10s), 0) << migrate.Log();
  DaemonProcess again({"master", "migrate-store", "--from", master_dirs_[0].path().string(),
                       "--to-etcd", endpoints_, "--etcd-prefix", "/trellis/test"});
  ASSERT_NE(again.WaitExit(10s), 0) << "a second copy must not overwrite the first";
  StartMaster(0);
  AddMasterAddress("127.0.0.1");
  StartMaster(1);
  ASSERT_TRUE(Eventually([&] { return Leader() != -1; }, 10s));
  EXPECT_EQ(Cluster(1)["version"], version);
  // The data path went on: the load ran through the move without a failed request.
  const uint64_t operations = checker.operations();
  ASSERT_TRUE(Eventually([&] { return checker.operations() > operations + 2000; }, 20s));
  const testing::LoadCheckerReport moved = checker.Report();
  EXPECT_EQ(moved.errors, 0u) << (moved.first_errors.empty() ? "" : moved.first_errors[0]);
  // The new control plane acts: a switchover without loss, the load running.
  ASSERT_EQ(Status(Leader(), "POST", "/v1/groups/g1/failover", ""), 200);
  const uint64_t switched = checker.operations();
  ASSERT_TRUE(Eventually([&] { return checker.operations() > switched + 2000; }, 20s));
  StopAndVerify(checker);
}

// docs/deploy.md's layout, each host a loopback address of its own: an etcd member, a
// master, an access node and cache nodes such that each group's main and backup are on
// different hosts. Host C is cut off (every process on it stopped, so that nothing it
// held answers, as behind a dropped link) under a checked load in sync mode.
TEST_F(MasterEtcdTest, ThreeHostsLoseOneAndItsGroupsFailOver) {
  const std::vector<std::string> hosts = {"127.0.0.11", "127.0.0.12", "127.0.0.13"};
  StartEtcd(hosts);
  for (const std::string& host : hosts) {
    AddMasterAddress(host);
  }
  for (int i = 0; i < 3; ++i) {
    StartMaster(i);
  }
  ASSERT_TRUE(Eventually([&] { return Leader() != -1; }, 10s));
  std::map<int, std::vector<DaemonProcess*>> on_host;  // What each host runs.
  on_host[2].push_back(masters_[2].get());
  // g1: main on A, backup on B; g2: B and C; g3: C and A.
  const std::vector<std::pair<int, int>> layout = {{0, 1}, {1, 2}, {2, 0}};
  std::vector<std::string> main_of_group;
  std::vector<std::string> backup_of_group;
  // All three groups before any node: they share the slots evenly.
  for (size_t g = 0; g < layout.size(); ++g) {
    const std::string group = "g" + std::to_string(g + 1);
    ASSERT_EQ(Status(Leader(), "POST", "/v1/groups", json{{"name", group}}.dump()), 201);
    ASSERT_EQ(Status(Leader(), "POST", "/v1/groups/" + group + "/mode", R"({"mode": "sync"})"),
              200);
  }
  for (size_t g = 0; g < layout.size(); ++g) {
    const std::string group = "g" + std::to_string(g + 1);
    for (const int host : {layout[g].first, layout[g].second}) {
      node_holds_.emplace_back();
      const std::string address = hosts[host] + ":" + std::to_string(node_holds_.back().port());
      (host == layout[g].first ? main_of_group : backup_of_group).push_back(address);
      nodes_.push_back(std::make_unique<DaemonProcess>(
          std::vector<std::string>{"cache", "--listen", address, "--threads", "1", "--master",
                                   master_urls_, "--group", group}));
      nodes_.back()->WaitForListening("cache");
      on_host[host].push_back(nodes_.back().get());
      ASSERT_TRUE(Eventually(
          [&] {
            const json state = Cluster(Leader())["groups"][g];
            return state["main"] == main_of_group[g] &&
                   state["nodes"].size() == (host == layout[g].first ? 1u : 2u);
          },
          10s));
    }
  }
  std::set<std::string> serving;  // Groups that serve slots: the load reaches every one.
  const json map = Cluster(0);
  for (const json& range : map["slot_ranges"]) {
    serving.insert(range["group"].get<std::string>());
  }
  ASSERT_EQ(serving.size(), 3u) << map.dump();
  // Every backup follows its main before the load starts.
  ASSERT_TRUE(Eventually(
      [&] {
        for (const json& group : Cluster(Leader())["groups"]) {
          if (!group["nodes"][1]["lag_ms"].is_number()) {
            return false;
          }
        }
        return true;
      },
      10s));
  // The clients reach A's and B's access nodes (on 127.0.0.1, where the load checker
  // connects); C's serves on C's own address.
  std::vector<uint16_t> access_ports;
  std::vector<std::unique_ptr<DaemonProcess>> access_nodes;
  for (const char* listen : {"127.0.0.1:0", "127.0.0.1:0", "127.0.0.13:0"}) {
    access_nodes.push_back(std::make_unique<DaemonProcess>(
        std::vector<std::string>{"access", "--listen", listen, "--threads", "1",
                                 "--backend-timeout", "1", "--master", master_urls_}));
    access_ports.push_back(access_nodes.back()->WaitForListening("access"));
  }
  on_host[2].push_back(access_nodes[2].get());
  testing::LoadChecker checker({{access_ports[0], access_ports[1]}, 3, 1, 200, 64});
  checker.Start();
  ASSERT_TRUE(Eventually([&] { return checker.operations() > 3000; }, 30s));

  // C goes: its etcd member, its master, g3's main, g2's backup, its access node.
  const uint64_t g3_epoch = Cluster(Leader())["groups"][2]["epoch"];
  ASSERT_TRUE(etcd_->Pause(2));
  for (DaemonProcess* process : on_host[2]) {
    ASSERT_TRUE(process->Pause());
  }
  const auto cut_at = std::chrono::steady_clock::now();
  const auto leads_on_a_or_b = [&] {
    const int a = Status(0, "GET", "/v1/migrations") == 200;
    const int b = Status(1, "GET", "/v1/migrations") == 200;
    return a + b == 1 ? (a == 1 ? 0 : 1) : -1;
  };
  ASSERT_TRUE(Eventually(
      [&] {
        const int leader = leads_on_a_or_b();
        if (leader == -1) {
          return false;
        }
        const json g3 = Cluster(leader)["groups"][2];
        return g3["main"] == backup_of_group[2] && g3["epoch"] == g3_epoch + 1;
      },
      30s));

  std::cout << "g3 failed over to host A "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - cut_at)
                   .count()
            << " ms after host C was cut off\n";
  const uint64_t operations = checker.operations();
  EXPECT_TRUE(Eventually([&] { return checker.operations() > operations + 3000; }, 30s));
  StopAndVerify(checker);
  // C comes back (its processes resume, then the fixture stops them all).
  etcd_->Resume(2);
  for (DaemonProcess* process : on_host[2]) {
    process->Signal(SIGCONT);
  }
}

}  // namespace
}  // namespace trellis
