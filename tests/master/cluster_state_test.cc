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

const std::string kHashA(64, 'a');
const std::string kHashB = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

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
  map.tenants = {{"analytics", 2, 0, 0, 0, kHashA}, {"shop", 1, 3, 1 << 30, 50000, kHashB}};
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
  EXPECT_EQ(group->FindNode("10.0.0.1:11211")->bytes, 320000u);
  EXPECT_EQ(group->FindNode("10.0.0.2:11211")->items, 0u);
  const TenantState* shop = parsed->FindTenant("shop");
  ASSERT_NE(shop, nullptr);
  EXPECT_EQ(shop->id, 1u);
  EXPECT_EQ(shop->generation, 3u);
  EXPECT_EQ(shop->memory_bytes, 1u << 30);
  EXPECT_EQ(shop->ops_per_second, 50000u);
  EXPECT_EQ(shop->password_sha256, kHashB);
  EXPECT_EQ(shop->KeyPrefix(), "1.3:");
  EXPECT_EQ(parsed->FindTenant("nope"), nullptr);
}

TEST(ClusterStateTest, AMapFromAnOlderMasterHasNoTenants) {
  json older = ToJson(SampleMap());
  older.erase("tenants");
  auto parsed = ParseClusterState(older);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_TRUE(parsed->tenants.empty());
  older["tenants"] = nullptr;
  parsed = ParseClusterState(older);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_TRUE(parsed->tenants.empty());
  EXPECT_EQ(ToJson(*parsed)["tenants"], json::array());
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
      {[](json& j) { j["groups"][0]["nodes"][0].erase("items"); },
       "groups[0].nodes[0].items: is missing"},
      {[](json& j) { j["groups"][0]["nodes"][1]["bytes"] = -3; },
       "groups[0].nodes[1].bytes: expected a non-negative integer"},
      {[](json& j) { j.erase("move_rate"); }, "move_rate: is missing"},
      {[](json& j) { j["move_rate"] = 2.5; }, "move_rate: expected a non-negative integer"},
      {[](json& j) { j["tenants"] = json::object(); }, "tenants: expected an array"},
      {[](json& j) { j["tenants"][1] = "shop"; }, "tenants[1]: expected an object"},
      {[](json& j) { j["tenants"][1].erase("id"); }, "tenants[1].id: is missing"},
      {[](json& j) { j["tenants"][0]["generation"] = -1; },
       "tenants[0].generation: expected a non-negative integer"},
      {[](json& j) { j["tenants"][0].erase("ops_per_second"); },
       "tenants[0].ops_per_second: is missing"},
      {[](json& j) { j["tenants"][0]["name"] = "Shop"; },
       "tenants[0].name: expected 1 to 32 of a-z, 0-9, '_' and '-'"},
      {[](json& j) { j["tenants"][0]["name"] = ""; },
       "tenants[0].name: expected 1 to 32 of a-z, 0-9, '_' and '-'"},
      {[](json& j) { j["tenants"][0]["name"] = std::string(33, 'a'); },
       "tenants[0].name: expected 1 to 32 of a-z, 0-9, '_' and '-'"},
      {[](json& j) { j["tenants"][0]["password_sha256"] = std::string(63, 'a'); },
       "tenants[0].password_sha256: expected 64 lowercase hex digits"},
      {[](json& j) { j["tenants"][0]["password_sha256"] = std::string(64, 'A'); },
       "tenants[0].password_sha256: expected 64 lowercase hex digits"},
      {[](json& j) { j["tenants"][0]["password_sha256"] = std::string(64, 'g'); },
       "tenants[0].password_sha256: expected 64 lowercase hex digits"},
      {[](json& j) { j["tenants"][1]["name"] = "analytics"; },
       "tenants[1]: a second tenant named analytics"},
      {[](json& j) { j["tenants"][1]["id"] = 2u; }, "tenants[1]: a second tenant with id 2"},
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
  newer["tenants"][1]["connections"] = 100;
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

template <typename T>
base::Status StatusOf(const base::Result<T>& parsed) {
  if (!parsed) {
    return parsed.error();
  }
  return {};
}

RebalanceReply SamplePlan() {
  RebalanceReply plan;
  plan.transfers = {{"g1", "g3", 10, 500, 32000}, {"g2", "g3", 9, 450, 28800}};
  plan.slots = 19;
  plan.items = 950;
  plan.bytes = 60800;
  plan.started = true;
  return plan;
}

MigrationStatus SampleMigrations() {
  MigrationStatus status;
  status.active = true;
  status.max_rate = 50000;
  status.slots_total = 19;
  status.slots_done = 7;
  status.slots_moving = 12;
  status.keys_total = 950;
  status.keys_moved = 100;
  status.bytes_total = 60800;
  status.bytes_moved = 6400;
  status.keys_per_second = 2.5;
  status.eta_seconds = 340;
  status.draining = {"g4"};
  return status;
}

TEST(ClusterStateTest, RebalanceRequestFieldsAreOptional) {
  auto empty = ParseRebalanceRequest(json::object());
  ASSERT_TRUE(empty.ok()) << empty.error().message;
  EXPECT_FALSE(empty->max_rate.has_value());
  EXPECT_FALSE(empty->dry_run);
  EXPECT_FALSE(ParseRebalanceRequest(json{{"max_rate", nullptr}})->max_rate.has_value());
  const RebalanceRequest request{1000, true};
  EXPECT_EQ(ToJson(request), json({{"max_rate", 1000}, {"dry_run", true}}));
  EXPECT_EQ(ToJson(*ParseRebalanceRequest(ToJson(request))), ToJson(request));
  EXPECT_EQ(ParseRebalanceRequest(ToJson(RebalanceRequest{}))->max_rate, std::nullopt);
}

TEST(ClusterStateTest, RebalanceReplyRoundTripsThroughJson) {
  auto parsed = ParseRebalanceReply(ToJson(SamplePlan()));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(ToJson(*parsed), ToJson(SamplePlan()));
  ASSERT_EQ(parsed->transfers.size(), 2u);
  EXPECT_EQ(parsed->transfers[1].from, "g2");
  EXPECT_EQ(parsed->transfers[1].slots, 9u);
  EXPECT_EQ(parsed->bytes, 60800u);
  EXPECT_TRUE(parsed->started);
  EXPECT_TRUE(ParseRebalanceReply(ToJson(RebalanceReply{}))->transfers.empty());
}

TEST(ClusterStateTest, MigrationStatusRoundTripsThroughJson) {
  auto parsed = ParseMigrationStatus(ToJson(SampleMigrations()));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(ToJson(*parsed), ToJson(SampleMigrations()));
  EXPECT_EQ(parsed->slots_moving, 12u);
  EXPECT_EQ(parsed->keys_per_second, 2.5);
  EXPECT_EQ(parsed->eta_seconds, 340.0);
  EXPECT_FALSE(parsed->error.has_value());

  MigrationStatus failed = SampleMigrations();
  failed.active = false;
  failed.eta_seconds.reset();
  failed.error = "group g3 was removed during the move";
  const json written = ToJson(failed);
  EXPECT_TRUE(written["eta_seconds"].is_null());
  auto failed_parsed = ParseMigrationStatus(written);
  ASSERT_TRUE(failed_parsed.ok()) << failed_parsed.error().message;
  EXPECT_EQ(failed_parsed->error, failed.error);
  EXPECT_FALSE(failed_parsed->eta_seconds.has_value());
  // A rate written as an integer is still a number.
  json integral = ToJson(SampleMigrations());
  integral["keys_per_second"] = 3;
  EXPECT_EQ(ParseMigrationStatus(integral)->keys_per_second, 3.0);
}

TEST(ClusterStateTest, NamesTheFirstBadFieldOfRebalanceBodies) {
  struct Case {
    std::function<json()> sample;
    std::function<base::Status(const json&)> parse;
    std::function<void(json&)> spoil;
    std::string error;
  };
  auto request = [] { return ToJson(RebalanceRequest{1000, true}); };
  auto plan = [] { return ToJson(SamplePlan()); };
  auto migrations = [] { return ToJson(SampleMigrations()); };
  auto parse_request = [](const json& j) { return StatusOf(ParseRebalanceRequest(j)); };
  auto parse_plan = [](const json& j) { return StatusOf(ParseRebalanceReply(j)); };
  auto parse_migrations = [](const json& j) { return StatusOf(ParseMigrationStatus(j)); };
  const std::vector<Case> cases = {
      {request, parse_request, [](json& j) { j["max_rate"] = -5; },
       "max_rate: expected a non-negative integer"},
      {request, parse_request, [](json& j) { j["max_rate"] = "fast"; },
       "max_rate: expected a non-negative integer"},
      {request, parse_request, [](json& j) { j["dry_run"] = "yes"; },
       "dry_run: expected true or false"},
      {request, parse_request, [](json& j) { j = json::array(); }, "expected an object"},
      {plan, parse_plan, [](json& j) { j["transfers"][1].erase("to"); },
       "transfers[1].to: is missing"},
      {plan, parse_plan, [](json& j) { j["transfers"][0]["from"] = 1; },
       "transfers[0].from: expected a string"},
      {plan, parse_plan, [](json& j) { j["transfers"][0]["slots"] = 16385u; },
       "transfers[0].slots: expected at most 16384 slots"},
      {plan, parse_plan, [](json& j) { j["transfers"][1]["items"] = 1.5; },
       "transfers[1].items: expected a non-negative integer"},
      {plan, parse_plan, [](json& j) { j["transfers"][1].erase("bytes"); },
       "transfers[1].bytes: is missing"},
      {plan, parse_plan, [](json& j) { j["transfers"] = json::object(); },
       "transfers: expected an array"},
      {plan, parse_plan, [](json& j) { j["transfers"][0] = "g1"; },
       "transfers[0]: expected an object"},
      {plan, parse_plan, [](json& j) { j["slots"] = "19"; },
       "slots: expected a non-negative integer"},
      {plan, parse_plan, [](json& j) { j.erase("items"); }, "items: is missing"},
      {plan, parse_plan, [](json& j) { j["bytes"] = -1; },
       "bytes: expected a non-negative integer"},
      {plan, parse_plan, [](json& j) { j.erase("started"); }, "started: is missing"},
      {plan, parse_plan, [](json& j) { j["started"] = 1; }, "started: expected true or false"},
      {migrations, parse_migrations, [](json& j) { j.erase("active"); }, "active: is missing"},
      {migrations, parse_migrations, [](json& j) { j["max_rate"] = -1; },
       "max_rate: expected a non-negative integer"},
      {migrations, parse_migrations, [](json& j) { j["slots_total"] = 20000u; },
       "slots_total: expected at most 16384 slots"},
      {migrations, parse_migrations, [](json& j) { j.erase("slots_done"); },
       "slots_done: is missing"},
      {migrations, parse_migrations, [](json& j) { j["slots_moving"] = "3"; },
       "slots_moving: expected a non-negative integer"},
      {migrations, parse_migrations, [](json& j) { j["keys_total"] = nullptr; },
       "keys_total: expected a non-negative integer"},
      {migrations, parse_migrations, [](json& j) { j.erase("keys_moved"); },
       "keys_moved: is missing"},
      {migrations, parse_migrations, [](json& j) { j["bytes_total"] = true; },
       "bytes_total: expected a non-negative integer"},
      {migrations, parse_migrations, [](json& j) { j.erase("bytes_moved"); },
       "bytes_moved: is missing"},
      {migrations, parse_migrations, [](json& j) { j["keys_per_second"] = "2.5"; },
       "keys_per_second: expected a number"},
      {migrations, parse_migrations, [](json& j) { j["eta_seconds"] = "soon"; },
       "eta_seconds: expected a number"},
      {migrations, parse_migrations, [](json& j) { j["draining"] = json::array({1}); },
       "draining: expected an array of strings"},
      {migrations, parse_migrations, [](json& j) { j.erase("draining"); }, "draining: is missing"},
      {migrations, parse_migrations, [](json& j) { j["error"] = 5; }, "error: expected a string"},
  };
  for (const Case& c : cases) {
    json spoiled = c.sample();
    ASSERT_TRUE(c.parse(spoiled).ok()) << c.error;
    c.spoil(spoiled);
    const base::Status status = c.parse(spoiled);
    ASSERT_FALSE(status.ok()) << c.error;
    EXPECT_EQ(status.error().message, c.error);
    EXPECT_EQ(status.error().code, base::ErrorCode::kInvalidArgument);
  }
}

TEST(ClusterStateTest, RebalanceBodiesIgnoreFieldsFromANewerVersion) {
  json request = ToJson(RebalanceRequest{7, false});
  request["groups"] = json::array({"g1"});
  EXPECT_EQ(ToJson(*ParseRebalanceRequest(request)), ToJson(RebalanceRequest{7, false}));
  json plan = ToJson(SamplePlan());
  plan["seconds"] = 12;
  plan["transfers"][0]["ranges"] = json::array();
  EXPECT_EQ(ToJson(*ParseRebalanceReply(plan)), ToJson(SamplePlan()));
  json migrations = ToJson(SampleMigrations());
  migrations["started_at"] = "2026-12-03T18:00:00Z";
  EXPECT_EQ(ToJson(*ParseMigrationStatus(migrations)), ToJson(SampleMigrations()));
}

ServiceList SampleServices() {
  return {{{{"backup-center", "backup-center", "http://10.0.0.5:9300",
             "http://10.0.0.5:9301/metrics", "2/2 groups streaming, lag 0.1 s"},
            1.25},
           {{"gateway", "gateway", "http://10.0.0.6:8080", "", ""}, 0}}};
}

TEST(ClusterStateTest, TenantBodiesRoundTripThroughJson) {
  const TenantRequest request{"shop", 256u << 20, 50000};
  EXPECT_EQ(ToJson(request),
            json({{"name", "shop"}, {"memory_bytes", 256u << 20}, {"ops_per_second", 50000}}));
  EXPECT_EQ(ToJson(*ParseTenantRequest(ToJson(request))), ToJson(request));
  auto bare = ParseTenantRequest(json{{"name", "a-b_9"}});
  ASSERT_TRUE(bare.ok()) << bare.error().message;
  EXPECT_EQ(bare->memory_bytes, 0u) << "limits left out are none";
  EXPECT_EQ(bare->ops_per_second, 0u);

  const IssuedTenant issued{{"shop", 4, 0, 0, 50000}, std::string(64, '7')};
  const json written = ToJson(issued);
  EXPECT_EQ(written["password"], std::string(64, '7'));
  EXPECT_EQ(written["id"], 4u);
  auto parsed_issued = ParseIssuedTenant(written);
  ASSERT_TRUE(parsed_issued.ok()) << parsed_issued.error().message;
  EXPECT_EQ(ToJson(*parsed_issued), written);

  const TenantList list{{{"analytics", 2, 0, 0, 0}, {"shop", 1, 3, 1 << 30, 50000}}};
  const json listed = ToJson(list);
  EXPECT_FALSE(listed["tenants"][0].contains("password_sha256")) << "never the hash";
  EXPECT_FALSE(listed["tenants"][0].contains("password"));
  auto parsed_list = ParseTenantList(listed);
  ASSERT_TRUE(parsed_list.ok()) << parsed_list.error().message;
  EXPECT_EQ(ToJson(*parsed_list), listed);
  EXPECT_EQ(parsed_list->tenants[1].generation, 3u);
  EXPECT_TRUE(ParseTenantList(ToJson(TenantList{}))->tenants.empty());

  const TenantFlushed flushed{4, 17};
  EXPECT_EQ(ToJson(flushed), json({{"generation", 4}, {"version", 17}}));
  EXPECT_EQ(ToJson(*ParseTenantFlushed(ToJson(flushed))), ToJson(flushed));
}

TEST(ClusterStateTest, NamesTheFirstBadFieldOfTenantBodies) {
  const std::string rule = "name: expected 1 to 32 of a-z, 0-9, '_' and '-'";
  for (const std::string name : {"", "Shop", "a b", "shop:1", "caf\xc3\xa9", "a.b"}) {
    const base::Status status = StatusOf(ParseTenantRequest(json{{"name", name}}));
    ASSERT_FALSE(status.ok()) << name;
    EXPECT_EQ(status.error().message, rule) << name;
    EXPECT_EQ(status.error().code, base::ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(StatusOf(ParseTenantRequest(json{{"name", std::string(33, 'a')}})).error().message,
            rule);
  EXPECT_TRUE(ParseTenantRequest(json{{"name", std::string(32, 'a')}}).ok());
  EXPECT_EQ(StatusOf(ParseTenantRequest(json::object())).error().message, "name: is missing");
  EXPECT_EQ(
      StatusOf(ParseTenantRequest(json{{"name", "shop"}, {"memory_bytes", -1}})).error().message,
      "memory_bytes: expected a non-negative integer");
  EXPECT_EQ(
      StatusOf(ParseTenantRequest(json{{"name", "shop"}, {"ops_per_second", "9"}})).error().message,
      "ops_per_second: expected a non-negative integer");
  json issued = ToJson(IssuedTenant{{"shop", 4, 0, 0, 0}, std::string(64, '7')});
  issued.erase("password");
  EXPECT_EQ(StatusOf(ParseIssuedTenant(issued)).error().message, "password: is missing");
  json list = ToJson(TenantList{{{"shop", 1, 3, 0, 0}}});
  list["tenants"][0]["generation"] = "3";
  EXPECT_EQ(StatusOf(ParseTenantList(list)).error().message,
            "tenants[0].generation: expected a non-negative integer");
  EXPECT_EQ(StatusOf(ParseTenantFlushed(json{{"generation", 1u}})).error().message,
            "version: is missing");
}

TEST(ClusterStateTest, ServicesRoundTripThroughJson) {
  const ServiceList services = SampleServices();
  EXPECT_EQ(ToJson(services.services[0]), json({{"name", "backup-center"},
                                                {"kind", "backup-center"},
                                                {"url", "http://10.0.0.5:9300"},
                                                {"metrics_url", "http://10.0.0.5:9301/metrics"},
                                                {"summary", "2/2 groups streaming, lag 0.1 s"},
                                                {"age_seconds", 1.25}}));
  auto parsed = ParseServiceList(ToJson(services));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(ToJson(*parsed), ToJson(services));
  ASSERT_EQ(parsed->services.size(), 2u);
  EXPECT_EQ(parsed->services[0].age_seconds, 1.25);
  EXPECT_EQ(parsed->services[1].registration.metrics_url, "");
  const ServiceRegistration& registration = services.services[0].registration;
  EXPECT_EQ(ToJson(*ParseServiceRegistration(ToJson(registration))), ToJson(registration));
  EXPECT_EQ(ToJson(*ParseServiceStatus(ToJson(services.services[1]))),
            ToJson(services.services[1]));
  EXPECT_TRUE(ParseServiceList(ToJson(ServiceList{}))->services.empty());
}

TEST(ClusterStateTest, NamesTheFirstBadFieldOfServiceBodies) {
  json registration = ToJson(SampleServices().services[0].registration);
  registration.erase("metrics_url");
  EXPECT_EQ(StatusOf(ParseServiceRegistration(registration)).error().message,
            "metrics_url: is missing");
  registration["metrics_url"] = nullptr;
  EXPECT_EQ(StatusOf(ParseServiceRegistration(registration)).error().message,
            "metrics_url: expected a string");
  json list = ToJson(SampleServices());
  list["services"][1]["age_seconds"] = "0";
  EXPECT_EQ(StatusOf(ParseServiceList(list)).error().message,
            "services[1].age_seconds: expected a number");
  EXPECT_EQ(StatusOf(ParseServiceList(json::array())).error().message, "expected an object");
  // A newer master may say more.
  json newer = ToJson(SampleServices());
  newer["lease_ms"] = 15000;
  newer["services"][0]["pid"] = 42;
  EXPECT_EQ(ToJson(*ParseServiceList(newer)), ToJson(SampleServices()));
}

}  // namespace
}  // namespace trellis::master
