// Scale-out and scale-in of a CMEM cluster (docs/scale-out.md) with real processes: a
// master, groups of a main and a backup, and two access nodes. Slots move with
// `POST /v1/rebalance` and `/v1/groups/NAME/drain`; afterwards every key is still
// readable through the access nodes with its value, and every group holds exactly the
// keys of the slots it serves (nothing is left behind on the group a slot left).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "master/client/cluster_state.h"
#include "testing/daemon_process.h"
#include "testing/held_port.h"
#include "testing/load_checker.h"
#include "testing/loopback_client.h"
#include "testing/tcp_relay.h"
#include "testing/temp_dir.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;
using testing::DaemonProcess;
using testing::Eventually;
using testing::LoopbackClient;

class ScaleOutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StartMaster();
    master_url_ = "http://127.0.0.1:" + std::to_string(master_port_);
    // Both first groups before any node, so that they share the slots (cluster_map.h).
    for (const char* group : {"g1", "g2"}) {
      ASSERT_EQ(Api("POST", "/v1/groups", std::string(R"({"name": ")") + group + "\"}").status,
                201);
    }
    for (const char* group : {"g1", "g2"}) {
      StartNodes(group);
    }
    for (int i = 0; i < 2; ++i) {
      access_.push_back(std::make_unique<DaemonProcess>(std::vector<std::string>{
          "access", "--listen", "127.0.0.1:0", "--threads", "1", "--master", master_url_}));
      access_ports_.push_back(access_.back()->WaitForListening("access"));
    }
    ASSERT_TRUE(Eventually([&] { return EveryGroupHasAMain(); }, 10s));
  }

  // The master, on its held address (a test restarts it there, with the same data).
  void StartMaster() {
    master_ = std::make_unique<DaemonProcess>(std::vector<std::string>{
        "master", "--listen", master_address_.address(), "--data", data_.path().string(),
        "--probe-interval", "0.2", "--failure-threshold", "10"});
    master_port_ = master_->WaitForListening("master");
  }

  testing::HttpResponse Api(const std::string& method, const std::string& path,
                            const std::string& body = "") {
    return testing::HttpRequest(master_port_, method, path, body);
  }

  // A main and a backup for `group`. In sync mode a write no backup took in time is
  // refused, never acknowledged.
  void StartNodes(const std::string& group) {
    for (int i = 0; i < 2; ++i) {
      StartNode(group);
    }
  }
  void StartNode(const std::string& group) {
    auto node = std::make_unique<DaemonProcess>(std::vector<std::string>{
        "cache", "--listen", "127.0.0.1:0", "--threads", "1", "--memory", "64", "--master",
        master_url_, "--group", group, "--sync-refuse", "--sync-timeout", "1"});
    const uint16_t port = node->WaitForListening("cache");
    nodes_["127.0.0.1:" + std::to_string(port)] = std::move(node);
  }

  void AddGroup(const std::string& group) {
    ASSERT_EQ(Api("POST", "/v1/groups", R"({"name": ")" + group + "\"}").status, 201);
    StartNodes(group);
    ASSERT_TRUE(Eventually([&] { return EveryGroupHasAMain(); }, 10s));
  }

  master::ClusterState Map() {
    const testing::HttpResponse response = Api("GET", "/v1/cluster");
    auto map = master::ParseClusterState(nlohmann::json::parse(response.body, nullptr, false));
    EXPECT_TRUE(map.ok()) << response.body;
    return map.ok() ? *map : master::ClusterState{};
  }

  // Each group's epoch, which a failover raises.
  std::map<std::string, uint64_t> Epochs() {
    std::map<std::string, uint64_t> epochs;
    for (const master::GroupState& group : Map().groups) {
      epochs[group.name] = group.epoch;
    }
    return epochs;
  }

  bool EveryGroupHasAMain() {
    const master::ClusterState map = Map();
    for (const master::GroupState& group : map.groups) {
      if (!group.main || group.nodes.size() < 2) {
        return false;
      }
    }
    return !map.groups.empty();
  }

  master::MigrationStatus Migrations() {
    const testing::HttpResponse response = Api("GET", "/v1/migrations");
    auto status =
        master::ParseMigrationStatus(nlohmann::json::parse(response.body, nullptr, false));
    EXPECT_TRUE(status.ok()) << response.body;
    return status.ok() ? *status : master::MigrationStatus{};
  }

  // Starts the moves of `path` (rebalance or drain) and waits until they are done.
  master::RebalanceReply MoveAndWait(const std::string& path) {
    const testing::HttpResponse response = Api("POST", path, R"({"max_rate": 20000})");
    EXPECT_EQ(response.status, 200) << response.body;
    auto reply = master::ParseRebalanceReply(nlohmann::json::parse(response.body, nullptr, false));
    EXPECT_TRUE(reply.ok()) << response.body;
    EXPECT_TRUE(Eventually([&] { return !Migrations().active; }, 60s, 100ms))
        << "still moving: " << Api("GET", "/v1/migrations").body;
    EXPECT_FALSE(Migrations().error);
    return reply.ok() ? *reply : master::RebalanceReply{};
  }

  // Starts a rebalance slowly (300 keys a second), so that what a test does next lands in
  // the middle of it, and waits until a third of the keys moved.
  bool RebalanceSlowlyUntilAThirdMoved() {
    if (Api("POST", "/v1/rebalance", R"({"max_rate": 300})").status != 200) {
      return false;
    }
    return Eventually(
        [&] {
          const master::MigrationStatus status = Migrations();
          return status.keys_moved > 0 && status.keys_moved * 3 >= status.keys_total;
        },
        60s, 50ms);
  }

  // Runs `trellis cluster ARGS...` against the master; its exit code and output.
  std::pair<int, std::string> Cluster(std::vector<std::string> args) {
    args.insert(args.begin(), {"cluster", "--master", master_url_});
    DaemonProcess cli(args);
    const std::optional<int> status = cli.WaitExit(90s);
    EXPECT_TRUE(status.has_value()) << cli.Log();
    return {status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1, cli.Log()};
  }

  // Waits until the checker has done `operations` more.
  static bool RunFor(testing::LoadChecker& checker, uint64_t operations) {
    const uint64_t target = checker.operations() + operations;
    return Eventually([&] { return checker.operations() >= target; }, 30s);
  }

  // Some more load once the moves are done, then the checker's verdict.
  static testing::LoadCheckerReport Finish(testing::LoadChecker& checker) {
    EXPECT_TRUE(RunFor(checker, 2000));
    checker.Stop();
    checker.VerifyAll();
    const testing::LoadCheckerReport report = checker.Report();
    EXPECT_EQ(report.violations, 0u) << ::testing::PrintToString(report.first_violations);
    return report;
  }

  // Every group's main holds items only in slots its group serves.
  void ExpectNothingOrphaned() {
    const master::ClusterState map = Map();
    const std::vector<uint16_t> owner = map.SlotGroups();
    for (size_t g = 0; g < map.groups.size(); ++g) {
      const std::string main = *map.groups[g].main;
      LoopbackClient client(static_cast<uint16_t>(std::stoi(main.substr(main.rfind(':') + 1))));
      client.Send("stats slots\r\n");
      const std::string stats = client.ReadUntil("END\r\n");
      for (size_t at = stats.find("STAT slot:"); at != std::string::npos;
           at = stats.find("STAT slot:", at + 1)) {
        const uint32_t slot = static_cast<uint32_t>(std::stoul(stats.substr(at + 10)));
        EXPECT_EQ(owner[slot], g) << "group " << map.groups[g].name << " still holds keys of slot "
                                  << slot;
      }
    }
  }

  // The access node's count of requests refused by a node for their map version.
  static uint64_t StaleMapRetries(uint16_t admin_port) {
    const std::string page = testing::HttpGet(admin_port, "/metrics").body;
    std::smatch match;
    static const std::regex counter("\ntrellis_access_stale_map_retries_total ([0-9]+)\n");
    return std::regex_search(page, match, counter) ? std::stoull(match[1].str()) : 0;
  }

  // Writes `count` keys through the first access node.
  void WriteKeys(int count) {
    LoopbackClient client(access_ports_[0]);
    for (int i = 0; i < count; ++i) {
      const std::string key = "key-" + std::to_string(i);
      const std::string value = "value-" + std::to_string(i * 7);
      client.Send("set " + key + " " + std::to_string(i % 5) + " 0 " +
                  std::to_string(value.size()) + "\r\n" + value + "\r\n");
      ASSERT_EQ(client.ReadUntil("\r\n"), "STORED\r\n") << key;
    }
  }

  // How many of the `count` keys read back whole (value and flags) through access node `a`.
  int ReadableKeys(int count, size_t a) {
    LoopbackClient client(access_ports_[a]);
    int readable = 0;
    for (int i = 0; i < count; ++i) {
      const std::string key = "key-" + std::to_string(i);
      const std::string value = "value-" + std::to_string(i * 7);
      client.Send("get " + key + "\r\n");
      const std::string expected = "VALUE " + key + " " + std::to_string(i % 5) + " " +
                                   std::to_string(value.size()) + "\r\n" + value + "\r\nEND\r\n";
      readable += client.ReadUntil("END\r\n") == expected ? 1 : 0;
    }
    return readable;
  }

  testing::TempDir data_;
  testing::HeldPort master_address_;
  std::unique_ptr<DaemonProcess> master_;
  uint16_t master_port_ = 0;
  std::string master_url_;
  std::map<std::string, std::unique_ptr<DaemonProcess>> nodes_;  // By address.
  std::vector<std::unique_ptr<DaemonProcess>> access_;
  std::vector<uint16_t> access_ports_;
};

TEST_F(ScaleOutTest, AGroupAddedTakesItsShareAndADrainedOneGivesEverythingBack) {
  constexpr int kKeys = 5000;
  WriteKeys(kKeys);
  AddGroup("g3");
  EXPECT_EQ(Map().SlotCount("g3"), 0u) << "a new group serves nothing until slots move";
  EXPECT_EQ(ReadableKeys(kKeys, 1), kKeys);

  const auto [dry_run_exit, dry_run] = Cluster({"rebalance", "--dry-run"});
  EXPECT_EQ(dry_run_exit, 0);
  EXPECT_THAT(dry_run, ::testing::HasSubstr("-> g3"));
  EXPECT_THAT(dry_run, ::testing::HasSubstr("(not started)"));
  EXPECT_FALSE(Migrations().active) << "a dry run moves nothing";
  const master::RebalanceReply plan = MoveAndWait("/v1/rebalance");
  EXPECT_TRUE(plan.started);
  const uint32_t g3_slots = Map().SlotCount("g3");
  EXPECT_NEAR(g3_slots, master::ClusterState::kSlots / 3, master::ClusterState::kSlots / 30);
  EXPECT_EQ(Migrations().slots_done, plan.slots);
  EXPECT_EQ(ReadableKeys(kKeys, 0), kKeys);
  EXPECT_EQ(ReadableKeys(kKeys, 1), kKeys);
  ExpectNothingOrphaned();

  const auto [refused_exit, refused] = Cluster({"remove-group", "g3"});
  EXPECT_NE(refused_exit, 0);
  EXPECT_THAT(refused, ::testing::HasSubstr("drain it first"));

  const auto [drain_exit, drain] = Cluster({"drain", "g3", "--wait"});
  EXPECT_EQ(drain_exit, 0) << drain;
  EXPECT_THAT(drain, ::testing::HasSubstr("g3         -> "));
  EXPECT_THAT(drain, ::testing::HasSubstr("done: "));
  EXPECT_EQ(Map().SlotCount("g3"), 0u);
  EXPECT_EQ(ReadableKeys(kKeys, 1), kKeys);
  ExpectNothingOrphaned();
  const auto [migrations_exit, migrations] = Cluster({"migrations", "--json"});
  EXPECT_EQ(migrations_exit, 0);
  EXPECT_THAT(migrations, ::testing::HasSubstr(R"("draining":["g3"])"));
  EXPECT_EQ(Cluster({"remove-group", "g3"}).first, 0);
  EXPECT_EQ(Map().FindGroup("g3"), nullptr);
  EXPECT_EQ(ReadableKeys(kKeys, 0), kKeys);
}

// Acceptance: under a continuous mixed load through both access nodes, 2 -> 4 groups,
// then one drained and removed: the checker sees no lost write, no resurrected delete,
// no stale read, no error.
TEST_F(ScaleOutTest, UnderLoadNothingIsLostWhileGroupsComeAndGo) {
  testing::LoadChecker checker({access_ports_, 4, 2, 300, 64});
  checker.Start();
  ASSERT_TRUE(RunFor(checker, 2000));
  AddGroup("g3");
  AddGroup("g4");
  std::map<std::string, uint64_t> epochs = Epochs();
  const uint64_t before_moves = checker.operations();
  MoveAndWait("/v1/rebalance");
  EXPECT_GT(checker.operations(), before_moves) << "the load ran while the slots moved";
  EXPECT_NEAR(Map().SlotCount("g4"), master::ClusterState::kSlots / 4,
              master::ClusterState::kSlots / 40);
  ASSERT_TRUE(RunFor(checker, 2000));
  MoveAndWait("/v1/groups/g2/drain");
  EXPECT_EQ(Map().SlotCount("g2"), 0u);
  EXPECT_EQ(Api("DELETE", "/v1/groups/g2").status, 200);
  const testing::LoadCheckerReport report = Finish(checker);
  // A main the probes took for dead (a machine too slow to answer them for 2 s) fails
  // requests for other reasons than moving slots.
  std::map<std::string, uint64_t> epochs_now = Epochs();
  for (const char* group : {"g1", "g3", "g4"}) {
    ASSERT_EQ(epochs_now[group], epochs[group]) << "no failover of " << group;
  }
  EXPECT_EQ(report.errors, 0u) << "no request fails because slots move: "
                               << ::testing::PrintToString(report.first_errors);
  EXPECT_GT(report.operations, 6000u);
  ExpectNothingOrphaned();
}

// Acceptance: in sync mode, the main of a group that slots move away from is killed
// (SIGKILL) halfway through: the move pauses while its backup takes over, then completes,
// and the checker sees nothing lost (requests to the dead main may fail meanwhile).
TEST_F(ScaleOutTest, TheSourceMainKilledHalfwayLosesNothingAndTheMoveCompletes) {
  for (const char* group : {"g1", "g2"}) {
    ASSERT_EQ(
        Api("POST", std::string("/v1/groups/") + group + "/mode", R"({"mode": "sync"})").status,
        200);
  }
  testing::LoadChecker checker({access_ports_, 4, 2, 500, 64});
  checker.Start();
  ASSERT_TRUE(RunFor(checker, 2000));
  AddGroup("g3");
  ASSERT_EQ(Api("POST", "/v1/groups/g3/mode", R"({"mode": "sync"})").status, 200);
  ASSERT_TRUE(RebalanceSlowlyUntilAThirdMoved());
  const std::string main = *Map().FindGroup("g1")->main;
  nodes_.at(main).reset();  // SIGKILL
  EXPECT_TRUE(Migrations().active) << "the kill lands before the move ends";
  StartNode("g1");  // Comes back as a backup, on another port.
  EXPECT_TRUE(Eventually([&] { return !Migrations().active; }, 90s, 100ms))
      << Api("GET", "/v1/migrations").body;
  EXPECT_FALSE(Migrations().error);
  EXPECT_NE(*Map().FindGroup("g1")->main, main) << "g1 failed over";
  Finish(checker);
  EXPECT_NEAR(Map().SlotCount("g3"), master::ClusterState::kSlots / 3,
              master::ClusterState::kSlots / 30);
  ExpectNothingOrphaned();
}

// A master killed (SIGKILL) in the middle of a move and started again on its data resumes
// the move where it stood (its step of every slot and the moves not begun are in its
// store), and the checker sees nothing lost.
TEST_F(ScaleOutTest, AMasterRestartedMidMoveResumesItAndLosesNothing) {
  testing::LoadChecker checker({access_ports_, 4, 2, 500, 64});
  checker.Start();
  ASSERT_TRUE(RunFor(checker, 2000));
  AddGroup("g3");
  ASSERT_TRUE(RebalanceSlowlyUntilAThirdMoved());
  master_.reset();  // SIGKILL
  StartMaster();
  EXPECT_TRUE(Migrations().active) << "the restarted master goes on with the move";
  EXPECT_TRUE(Eventually([&] { return !Migrations().active; }, 90s, 100ms))
      << Api("GET", "/v1/migrations").body;
  EXPECT_FALSE(Migrations().error);
  Finish(checker);
  EXPECT_NEAR(Map().SlotCount("g3"), master::ClusterState::kSlots / 3,
              master::ClusterState::kSlots / 30);
  ExpectNothingOrphaned();
}

// Acceptance: an access node that learns of a move late (it follows the master through a
// relay that is cut while the slots move) routes by its old map meanwhile; the cache
// nodes refuse what it sends by that map and it sends it again once it has learnt, so
// nothing is lost and no request fails.
TEST_F(ScaleOutTest, AnAccessNodeThatLearnsOfTheMoveLateLosesNothing) {
  testing::TcpRelay to_master(master_port_);
  DaemonProcess late({"access", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--threads",
                      "1", "--master", "http://127.0.0.1:" + std::to_string(to_master.port())});
  const uint16_t late_port = late.WaitForListening("access");
  const uint16_t late_admin = late.WaitForListening("admin");
  testing::LoadChecker checker({{late_port, access_ports_[0]}, 4, 2, 500, 64});
  checker.Start();
  ASSERT_TRUE(RunFor(checker, 2000));
  AddGroup("g3");
  to_master.Cut();
  ASSERT_EQ(Api("POST", "/v1/rebalance", R"({"max_rate": 2000})").status, 200);
  // The move goes on without it, and the nodes refuse what it sends by its old map; it
  // catches up a moment later (within the 5 s a refused request is sent again for).
  ASSERT_TRUE(Eventually([&] { return Migrations().slots_done > 0; }, 30s, 20ms));
  ASSERT_TRUE(Eventually([&] { return StaleMapRetries(late_admin) > 0; }, 30s, 20ms));
  to_master.Resume();
  EXPECT_TRUE(Eventually([&] { return !Migrations().active; }, 60s, 100ms));
  const testing::LoadCheckerReport report = Finish(checker);
  EXPECT_EQ(report.errors, 0u) << ::testing::PrintToString(report.first_errors);
  ExpectNothingOrphaned();
}

}  // namespace
}  // namespace trellis
