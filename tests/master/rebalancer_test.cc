#include "master/rebalancer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace trellis::master {
namespace {

class RebalancerTest : public ::testing::Test {
 protected:
  RebalancerTest() {
    EXPECT_TRUE(map_.AddGroup("g1").ok());
    (void)map_.RegisterNode("g1", "10.0.0.1:1");
    (void)map_.RegisterNode("g1", "10.0.0.1:2");
    EXPECT_TRUE(map_.AddGroup("g2").ok());
    (void)map_.RegisterNode("g2", "10.0.0.2:1");
  }

  // Every node says it holds the map as it is now.
  void NodesCatchUp() {
    for (const char* address : {"10.0.0.1:1", "10.0.0.1:2", "10.0.0.2:1"}) {
      map_.FindNode(address)->map_version = map_.version();
    }
  }

  // Every slot known, holding `items` at its group's main.
  static Rebalancer::SlotLoads Loads(uint64_t items) {
    return Rebalancer::SlotLoads(ClusterState::kSlots, SlotLoad{items, items * 100});
  }

  ClusterMap map_;
  Rebalancer rebalancer_;
};

TEST_F(RebalancerTest, AMoveWaitsForEveryNodeBeforeDualAndForAnEmptySourceBeforeTheFlip) {
  rebalancer_.Start({{1, "g2", {10, 1000}}, {2, "g2", {10, 1000}}}, 1000, {});
  ASSERT_TRUE(rebalancer_.Active(map_));
  ASSERT_TRUE(rebalancer_.Step(map_, Loads(10)));
  EXPECT_EQ(map_.slots()[1].phase, MovePhase::kPrepare);
  EXPECT_EQ(map_.move_rate(), 0u) << "nobody moves keys before the dual step";

  // The backup of g1 has not seen the prepare step yet: no dual routing.
  map_.FindNode("10.0.0.1:1")->map_version = map_.version();
  map_.FindNode("10.0.0.2:1")->map_version = map_.version();
  EXPECT_FALSE(rebalancer_.Step(map_, Loads(10)));
  // ... unless it is down.
  map_.FindNode("10.0.0.1:2")->healthy = false;
  ASSERT_TRUE(rebalancer_.Step(map_, Loads(10)));
  EXPECT_EQ(map_.slots()[1].phase, MovePhase::kDual);
  EXPECT_EQ(map_.slots()[2].phase, MovePhase::kDual);
  EXPECT_EQ(map_.move_rate(), 1000u);

  // Slot 1 still holds keys at g1, slot 2 is empty: only slot 2 flips.
  Rebalancer::SlotLoads loads = Loads(10);
  loads[2] = SlotLoad{};
  ASSERT_TRUE(rebalancer_.Step(map_, loads));
  EXPECT_EQ(map_.slots()[2].target, SlotState::kNoGroup);
  EXPECT_EQ(map_.groups()[map_.slots()[2].group].name, "g2");
  EXPECT_EQ(map_.slots()[1].target, 1u);
  MigrationStatus status = rebalancer_.Status(map_, loads);
  EXPECT_TRUE(status.active);
  EXPECT_EQ(status.slots_total, 2u);
  EXPECT_EQ(status.slots_done, 1u);
  EXPECT_EQ(status.keys_moved, 10u) << "20 planned, 10 still at the source";

  // An unknown load (the source's main did not answer) never flips a slot.
  loads[1].reset();
  EXPECT_FALSE(rebalancer_.Step(map_, loads));
  loads[1] = SlotLoad{};
  ASSERT_TRUE(rebalancer_.Step(map_, loads));
  EXPECT_FALSE(rebalancer_.Active(map_));
  EXPECT_EQ(map_.move_rate(), 0u);
  status = rebalancer_.Status(map_, loads);
  EXPECT_FALSE(status.active);
  EXPECT_EQ(status.slots_done, 2u);
  EXPECT_EQ(status.keys_moved, 20u);
}

TEST_F(RebalancerTest, NoMoreThanABatchMovesAtOnce) {
  std::vector<PendingMove> moves;
  for (uint32_t slot = 0; slot < 2 * Rebalancer::kMaxMovingSlots; ++slot) {
    moves.push_back({slot, "g2", {}});
  }
  rebalancer_.Start(moves, 1000, {});
  ASSERT_TRUE(rebalancer_.Step(map_, Loads(0)));
  size_t moving = 0;
  for (const SlotState& slot : map_.slots()) {
    moving += slot.target != SlotState::kNoGroup ? 1 : 0;
  }
  EXPECT_EQ(moving, Rebalancer::kMaxMovingSlots);
  // Run it to the end: every step the nodes catch up and the sources are empty.
  for (int step = 0; step < 10 && rebalancer_.Active(map_); ++step) {
    NodesCatchUp();
    rebalancer_.Step(map_, Loads(0));
  }
  EXPECT_FALSE(rebalancer_.Active(map_));
  EXPECT_EQ(map_.ToState(std::chrono::milliseconds(1)).SlotCount("g2"),
            2 * Rebalancer::kMaxMovingSlots)
      << "g2, added after g1 had a node, served nothing: it has the planned slots now";
}

TEST_F(RebalancerTest, ItsRecordSurvivesARestartAndAMalformedOneIsRefused) {
  rebalancer_.Start({{1, "g2", {10, 1000}}, {2, "g2", {10, 1000}}, {3, "g2", {10, 1000}}}, 500,
                    {"g1"});
  ASSERT_TRUE(rebalancer_.Step(map_, Loads(10)));
  auto restored = Rebalancer::FromJson(rebalancer_.ToJson());
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  const MigrationStatus before = rebalancer_.Status(map_, Loads(10));
  const MigrationStatus after = restored->Status(map_, Loads(10));
  EXPECT_EQ(after.slots_total, before.slots_total);
  EXPECT_EQ(after.max_rate, 500u);
  EXPECT_EQ(after.keys_total, 30u);
  EXPECT_EQ(after.draining, std::vector<std::string>{"g1"});

  nlohmann::json bad = rebalancer_.ToJson();
  bad["pending"] =
      nlohmann::json::array({nlohmann::json::array({ClusterState::kSlots, "g2", 1u, 1u})});
  EXPECT_FALSE(Rebalancer::FromJson(bad).ok());
  bad.erase("max_rate");
  EXPECT_FALSE(Rebalancer::FromJson(bad).ok());
}

}  // namespace
}  // namespace trellis::master
