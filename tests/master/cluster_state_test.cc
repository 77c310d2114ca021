// The master's API types: what ToJson writes, Parse* reads back whole; a wrong type or a
// missing field is an error naming the field; a field from a newer version is ignored.
#include "master/client/cluster_state.h"

#include <gtest/gtest.h>

#include <functional>

#include <nlohmann/json.hpp>

namespace trellis::master {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

ClusterState SampleMap() {
  ClusterState map;
  map.version = 9;
  map.lease = 1500ms;
  GroupState& group = map.groups.emplace_back();
  group.name = "g1";
  group.epoch = 3;
  group.mode = WriteMode::kSync;
  group.main = "10.0.0.1:11211";
  group.nodes.push_back({"10.0.0.1:11211", Role::kMain, true, 42, 100, 0, 0, 5000, 320000});
  group.nodes.push_back({"10.0.0.2:11211", Role::kBackup, false, 40, 0, 2, std::nullopt});
  map.groups.push_back({"g2", 1, WriteMode::kAsync, true, std::nullopt, {}});
  map.slot_ranges = {{0, 99, "g1", 0, std::nullopt, MovePhase::kPrepare},
                     {100, 8191, "g2", 4, std::nullopt, MovePhase::kPrepare},
                     {8192, 8200, "g1", 9, "g2", MovePhase::kDual},
                     {8201, ClusterState::kSlots - 1, "g1", 0, std::nullopt, MovePhase::kPrepare}};
  map.move_rate = 25000;
  return map;
}

TEST(ClusterStateTest, RoundTripsThroughJson) {
  auto parsed = ParseClusterState(ToJson(SampleMap()));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(ToJson(*parsed), ToJson(SampleMap()));
  EXPECT_EQ(parsed->lease, 1500ms);
  const GroupState* group = parsed->FindGroup("g1");
  ASSERT_NE(group, nullptr);
  EXPECT_EQ(group->FindNode("10.0.0.2:11211")->lag, 2u);
  EXPECT_FALSE(group->FindNode("10.0.0.2:11211")->lag_ms.has_value());
  EXPECT_FALSE(parsed->FindGroup("g2")->main.has_value());
  EXPECT_EQ(parsed->FindGroup("nope"), nullptr);
  EXPECT_EQ(parsed->SlotCount("g1"), ClusterState::kSlots - 8092);
  EXPECT_EQ(parsed->SlotCount("g2"), 8092u);
  EXPECT_EQ(parsed->slot_ranges[2].target, "g2");
  EXPECT_EQ(parsed->slot_ranges[2].phase, MovePhase::kDual);
  EXPECT_FALSE(parsed->slot_ranges[1].target.has_value());
  EXPECT_EQ(parsed->slot_ranges[1].since, 4u);
  const std::vector<uint16_t> owners = parsed->SlotGroups();
  ASSERT_EQ(owners.size(), ClusterState::kSlots);
  EXPECT_EQ(owners[99], 0);
  EXPECT_EQ(owners[100], 1);
  EXPECT_EQ(owners[8191], 1);
  EXPECT_EQ(owners[ClusterState::kSlots - 1], 0);
  EXPECT_EQ(parsed->move_rate, 25000u);
  EXPECT_EQ(group->FindNode("10.0.0.1:11211")->items, 5000u);
}

TEST(ClusterStateTest, NamesTheFirstBadField) {
  struct Case {
    std::function<void(json&)> spoil;
    std::string error;
  };
  const std::vector<Case> cases = {
      {[](json& j) { j["version"] = "9"; }, "version: expected a non-negative integer"},
      {[](json& j) { j["version"] = -1; }, "version: expected a non-negative integer"},
      {[](json& j) { j.erase("lease_ms"); }, "lease_ms: is missing"},
      {[](json& j) { j["groups"] = json::object(); }, "groups: expected an array"},
      {[](json& j) { j["groups"][1] = 3; }, "groups[1]: expected an object"},
      {[](json& j) { j["groups"][0]["mode"] = "fast"; },
       "groups[0].mode: expected \"async\" or \"sync\""},
      {[](json& j) { j["groups"][0]["main"] = 5; }, "groups[0].main: expected a string"},
      {[](json& j) { j["groups"][0]["nodes"][1]["healthy"] = "yes"; },
       "groups[0].nodes[1].healthy: expected true or false"},
      {[](json& j) { j["groups"][0]["nodes"][0]["role"] = "leader"; },
       "groups[0].nodes[0].role: expected \"main\" or \"backup\""},
      {[](json& j) { j = json::array(); }, "expected an object"},
      {[](json& j) { j["slots"] = 1024u; }, "slots: expected 16384"},
      {[](json& j) { j.erase("slot_ranges"); }, "slot_ranges: is missing"},
      {[](json& j) { j["slot_ranges"][1]["group"] = "g9"; },
       "slot_ranges[1]: no group g9 in the map"},
      {[](json& j) { j["slot_ranges"][1]["first"] = 101u; },
       "slot_ranges[1]: expected slots from 100 on, in order, below 16384"},
      {[](json& j) { j["slot_ranges"][3]["last"] = 16384u; },
       "slot_ranges[3]: expected slots from 8201 on, in order, below 16384"},
      {[](json& j) { j["slot_ranges"].erase(3); }, "slot_ranges: slots from 8201 on have no group"},
      {[](json& j) { j["slot_ranges"][2]["target"] = "g7"; },
       "slot_ranges[2]: no group g7 in the map"},
      {[](json& j) { j["slot_ranges"][2]["target"] = "g1"; },
       "slot_ranges[2]: moving from group g1 to itself"},
      {[](json& j) { j["slot_ranges"][2]["phase"] = "done"; },
       "slot_ranges[2].phase: expected \"prepare\" or \"dual\""},
      {[](json& j) { j["slot_ranges"][2].erase("phase"); }, "slot_ranges[2].phase: is missing"},
      {[](json& j) { j["slot_ranges"][0].erase("since"); }, "slot_ranges[0].since: is missing"},
      {[](json& j) { j["groups"] = json::array(); }, "slot_ranges[0]: no group g1 in the map"},
  };
  for (const Case& c : cases) {
    json spoiled = ToJson(SampleMap());
    c.spoil(spoiled);
    auto parsed = ParseClusterState(spoiled);
    ASSERT_FALSE(parsed.ok()) << c.error;
    EXPECT_EQ(parsed.error().message, c.error);
    EXPECT_EQ(parsed.error().code, base::ErrorCode::kInvalidArgument);
  }
}

TEST(ClusterStateTest, IgnoresFieldsFromANewerVersion) {
  json newer = ToJson(SampleMap());
  newer["migrations"] = json::array({{{"slot", 1}}});
  newer["groups"][0]["zone"] = "a";
  newer["groups"][0]["nodes"][0]["weight"] = 2;
  auto parsed = ParseClusterState(newer);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(ToJson(*parsed), ToJson(SampleMap()));
}

TEST(ClusterStateTest, RequestBodies) {
  EXPECT_EQ(ParseNodeRegistration(ToJson(NodeRegistration{"g1", "h:1"}))->address, "h:1");
  EXPECT_FALSE(ParseNodeRegistration(json{{"group", "g1"}}).ok());
  EXPECT_EQ(ParseModeChange(json{{"mode", "sync"}})->mode, WriteMode::kSync);
  EXPECT_FALSE(ParseModeChange(json{{"mode", "fast"}}).ok());
  EXPECT_EQ(ParseFailoverRequest(json::object())->epoch, std::nullopt);
  EXPECT_EQ(ParseFailoverRequest(ToJson(FailoverRequest{4}))->epoch, 4u);
  EXPECT_FALSE(ParseFailoverRequest(json{{"epoch", "4"}}).ok());
  RegistrationReply reply{Role::kBackup, "h:1", 2, 7};
  EXPECT_EQ(ToJson(*ParseRegistrationReply(ToJson(reply))), ToJson(reply));
}

TEST(ClusterStateTest, RebalanceBodies) {
  EXPECT_FALSE(ParseRebalanceRequest(json::object())->max_rate.has_value());
  EXPECT_FALSE(ParseRebalanceRequest(json::object())->dry_run);
  const RebalanceRequest request{1000, true};
  EXPECT_EQ(ToJson(*ParseRebalanceRequest(ToJson(request))), ToJson(request));
  EXPECT_FALSE(ParseRebalanceRequest(json{{"max_rate", -5}}).ok());
  EXPECT_FALSE(ParseRebalanceRequest(json{{"dry_run", "yes"}}).ok());

  RebalanceReply reply;
  reply.transfers = {{"g1", "g3", 10, 500, 32000}, {"g2", "g3", 9, 450, 28800}};
  reply.slots = 19;
  reply.started = true;
  EXPECT_EQ(ToJson(*ParseRebalanceReply(ToJson(reply))), ToJson(reply));
  json bad = ToJson(reply);
  bad["transfers"][1].erase("to");
  EXPECT_EQ(ParseRebalanceReply(bad).error().message, "transfers[1].to: is missing");

  MigrationStatus status;
  status.active = true;
  status.slots_total = 19;
  status.keys_moved = 100;
  status.keys_per_second = 2.5;
  status.eta_seconds = 340;
  status.draining = {"g4"};
  EXPECT_EQ(ToJson(*ParseMigrationStatus(ToJson(status))), ToJson(status));
  status.eta_seconds.reset();
  status.error = "group g3 was removed during the move";
  EXPECT_EQ(ParseMigrationStatus(ToJson(status))->error, status.error);
  json wrong = ToJson(status);
  wrong["draining"] = json::array({1});
  EXPECT_FALSE(ParseMigrationStatus(wrong).ok());
}

}  // namespace
}  // namespace trellis::master
