#include "master/cluster_map.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace trellis::master {
namespace {

TEST(ClusterMapTest, FirstNodeOfAGroupIsItsMainAndARestartedMainHandsOver) {
  ClusterMap map;
  ASSERT_TRUE(map.AddGroup("g1").ok());
  EXPECT_FALSE(map.AddGroup("g1").ok());
  EXPECT_FALSE(map.AddGroup("bad name").ok());
  EXPECT_EQ(*map.RegisterNode("g1", "10.0.0.1:1"), Role::kMain);
  EXPECT_EQ(*map.RegisterNode("g1", "10.0.0.1:1"), Role::kMain) << "no backup to hand over to";
  EXPECT_EQ(*map.RegisterNode("g1", "10.0.0.2:1"), Role::kBackup);
  EXPECT_EQ(*map.RegisterNode("g1", "10.0.0.2:1"), Role::kBackup);
  // The main restarted (empty): its backup takes over.
  EXPECT_EQ(*map.RegisterNode("g1", "10.0.0.1:1"), Role::kBackup);
  EXPECT_EQ(map.MainOf("g1")->address, "10.0.0.2:1");
  EXPECT_FALSE(map.RegisterNode("nope", "10.0.0.3:1").ok());
  ASSERT_TRUE(map.AddGroup("g2").ok());
  EXPECT_FALSE(map.RegisterNode("g2", "10.0.0.1:1").ok()) << "a node is in one group";
}

TEST(ClusterMapTest, GroupsAddedBeforeAnyNodeShareTheSlotsAndLaterOnesServeNone) {
  ClusterMap map;
  EXPECT_TRUE(map.ToState(std::chrono::milliseconds(1500)).slot_ranges.empty());
  ASSERT_TRUE(map.AddGroup("g1").ok());
  ASSERT_TRUE(map.AddGroup("g2").ok());
  ClusterState state = map.ToState(std::chrono::milliseconds(1500));
  EXPECT_EQ(state.SlotCount("g1"), ClusterState::kSlots / 2);
  EXPECT_EQ(state.SlotCount("g2"), ClusterState::kSlots / 2);
  (void)map.RegisterNode("g1", "10.0.0.1:1");
  const std::vector<SlotRange> before = map.SlotRanges();
  ASSERT_TRUE(map.AddGroup("g3").ok());
  state = map.ToState(std::chrono::milliseconds(1500));
  EXPECT_EQ(state.SlotCount("g3"), 0u) << "adding a group re-homes no key";
  ASSERT_EQ(state.slot_ranges.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(state.slot_ranges[i].group, before[i].group);
    EXPECT_EQ(state.slot_ranges[i].last, before[i].last);
  }
}

TEST(ClusterMapTest, AMoveGoesThroughPrepareAndDualToTheTarget) {
  ClusterMap map;
  ASSERT_TRUE(map.AddGroup("g1").ok());
  (void)map.RegisterNode("g1", "10.0.0.1:1");
  ASSERT_TRUE(map.AddGroup("g2").ok());
  EXPECT_EQ(map.BeginMove({1}, "g9").error().code, base::ErrorCode::kNotFound);
  EXPECT_EQ(map.BeginMove({ClusterState::kSlots}, "g2").error().code,
            base::ErrorCode::kInvalidArgument);

  ASSERT_TRUE(map.BeginMove({10, 11}, "g2").ok());
  const uint64_t prepared = map.version();
  EXPECT_EQ(map.BeginMove({11, 12}, "g2").error().code, base::ErrorCode::kConflict);
  EXPECT_EQ(map.slots()[12].target, SlotState::kNoGroup) << "a refused move changes nothing";
  std::vector<SlotRange> ranges = map.SlotRanges();
  ASSERT_EQ(ranges.size(), 3u);
  EXPECT_EQ(ranges[1].first, 10u);
  EXPECT_EQ(ranges[1].last, 11u);
  EXPECT_EQ(ranges[1].group, "g1");
  EXPECT_EQ(ranges[1].target, "g2");
  EXPECT_EQ(ranges[1].phase, MovePhase::kPrepare);
  EXPECT_EQ(ranges[1].since, prepared);

  map.AdvanceMove({10, 11});
  const uint64_t dual = map.version();
  EXPECT_GT(dual, prepared);
  EXPECT_EQ(map.slots()[10].phase, MovePhase::kDual);
  EXPECT_EQ(map.slots()[10].since, dual) << "writes go to the target from here on";

  map.AdvanceMove({10, 11});
  EXPECT_GT(map.version(), dual);
  const ClusterState state = map.ToState(std::chrono::milliseconds(1500));
  EXPECT_EQ(state.SlotCount("g2"), 2u);
  EXPECT_EQ(map.slots()[11].target, SlotState::kNoGroup);
  EXPECT_EQ(map.slots()[11].since, dual) << "the flip changes no write's destination";
  EXPECT_EQ(map.BeginMove({10}, "g2").error().code, base::ErrorCode::kConflict)
      << "g2 serves it already";
}

TEST(ClusterMapTest, OnlyAGroupThatServesNoSlotAndTakesNoneCanBeRemoved) {
  ClusterMap map;
  ASSERT_TRUE(map.AddGroup("g1").ok());
  ASSERT_TRUE(map.AddGroup("g2").ok());
  (void)map.RegisterNode("g1", "10.0.0.1:1");
  ASSERT_TRUE(map.AddGroup("g3").ok());
  (void)map.RegisterNode("g3", "10.0.0.3:1");
  EXPECT_EQ(map.RemoveGroup("g9").error().code, base::ErrorCode::kNotFound);
  const base::Status serving = map.RemoveGroup("g1");
  ASSERT_FALSE(serving.ok());
  EXPECT_EQ(serving.error().code, base::ErrorCode::kConflict);
  EXPECT_THAT(serving.error().message, ::testing::HasSubstr("8192 slots"));

  ASSERT_TRUE(map.BeginMove({20000 % ClusterState::kSlots}, "g3").ok());
  EXPECT_EQ(map.RemoveGroup("g3").error().code, base::ErrorCode::kConflict)
      << "a slot is moving to it";
  map.AdvanceMove({20000 % ClusterState::kSlots});
  map.AdvanceMove({20000 % ClusterState::kSlots});

  // g1 hands everything to g2: then it can go, and the slots keep naming the right groups.
  std::vector<uint32_t> of_g1;
  for (uint32_t slot = 0; slot < ClusterState::kSlots; ++slot) {
    if (map.slots()[slot].group == 0) {
      of_g1.push_back(slot);
    }
  }
  ASSERT_TRUE(map.BeginMove(of_g1, "g2").ok());
  map.AdvanceMove(of_g1);
  map.AdvanceMove(of_g1);
  const uint64_t before = map.version();
  ASSERT_TRUE(map.RemoveGroup("g1").ok());
  EXPECT_GT(map.version(), before);
  EXPECT_EQ(map.FindNode("10.0.0.1:1"), nullptr) << "its nodes go with it";
  const ClusterState state = map.ToState(std::chrono::milliseconds(1500));
  EXPECT_EQ(state.SlotCount("g2"), ClusterState::kSlots - 1);
  EXPECT_EQ(state.SlotCount("g3"), 1u);
  EXPECT_EQ(map.MainOf("g3")->address, "10.0.0.3:1");
}

TEST(ClusterMapTest, TenantChangesBumpTheVersionAndAFlushTheGeneration) {
  ClusterMap map;
  const std::string hash(64, 'c');
  uint64_t version = map.version();
  auto shop = map.AddTenant({"shop", 1 << 30, 50000}, hash);
  ASSERT_TRUE(shop.ok()) << shop.error().message;
  EXPECT_EQ(shop->id, 1u);
  EXPECT_EQ(shop->generation, 0u);
  EXPECT_EQ(shop->password_sha256, hash);
  EXPECT_GT(map.version(), version);
  ASSERT_TRUE(map.AddTenant({"analytics", 0, 0}, hash).ok());
  EXPECT_EQ(map.FindTenant("analytics")->id, 2u);

  version = map.version();
  const base::Result<TenantState> twice = map.AddTenant({"shop", 0, 0}, hash);
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().code, base::ErrorCode::kConflict);
  EXPECT_EQ(map.AddTenant({"Bad Name", 0, 0}, hash).error().code,
            base::ErrorCode::kInvalidArgument);
  EXPECT_EQ(map.version(), version) << "nothing changed";
  EXPECT_EQ(map.next_tenant_id(), 3u);

  auto flushed = map.FlushTenant("shop");
  ASSERT_TRUE(flushed.ok());
  EXPECT_EQ(*flushed, 1u);
  EXPECT_EQ(*map.FlushTenant("shop"), 2u);
  EXPECT_EQ(map.FindTenant("shop")->KeyPrefix(), "1.2:");
  EXPECT_EQ(map.FindTenant("analytics")->generation, 0u) << "other tenants' keys stay";
  EXPECT_EQ(map.version(), version + 2);
  EXPECT_EQ(map.FlushTenant("nope").error().code, base::ErrorCode::kNotFound);

  // The map shows them by name, with their limits and hashes.
  const ClusterState state = map.ToState(std::chrono::milliseconds(1500));
  ASSERT_EQ(state.tenants.size(), 2u);
  EXPECT_EQ(state.tenants[0].name, "analytics");
  EXPECT_EQ(state.tenants[1].name, "shop");
  EXPECT_EQ(state.tenants[1].generation, 2u);
  EXPECT_EQ(state.tenants[1].memory_bytes, 1u << 30);
  EXPECT_EQ(state.tenants[1].ops_per_second, 50000u);

  version = map.version();
  ASSERT_TRUE(map.RemoveTenant("shop").ok());
  EXPECT_GT(map.version(), version);
  EXPECT_EQ(map.FindTenant("shop"), nullptr);
  EXPECT_EQ(map.RemoveTenant("shop").error().code, base::ErrorCode::kNotFound);
  auto again = map.AddTenant({"shop", 0, 0}, hash);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id, 3u) << "ids are never reused";
}

TEST(ClusterMapTest, PromotionPicksTheHealthyBackupThatHasTheMostAndBumpsTheEpoch) {
  ClusterMap map;
  ASSERT_TRUE(map.AddGroup("g1").ok());
  (void)map.RegisterNode("g1", "main:1");
  (void)map.RegisterNode("g1", "behind:1");
  (void)map.RegisterNode("g1", "ahead:1");
  (void)map.RegisterNode("g1", "down:1");
  map.FindNode("behind:1")->sequence = 10;
  map.FindNode("ahead:1")->sequence = 20;
  map.FindNode("down:1")->sequence = 30;
  map.FindNode("down:1")->healthy = false;
  const uint64_t version = map.version();
  auto promoted = map.Promote("g1");
  ASSERT_TRUE(promoted.ok());
  EXPECT_EQ(*promoted, "ahead:1");
  EXPECT_EQ(map.MainOf("g1")->address, "ahead:1");
  EXPECT_EQ(map.FindNode("main:1")->role, Role::kBackup);
  EXPECT_EQ(map.FindGroup("g1")->epoch, 2u);
  EXPECT_GT(map.version(), version);
  const ClusterState state = map.ToState(std::chrono::milliseconds(1500));
  EXPECT_EQ(state.groups[0].main, "ahead:1");
  EXPECT_EQ(state.groups[0].nodes.size(), 4u);
  EXPECT_EQ(state.groups[0].FindNode("behind:1")->lag, 10u) << "behind the new main's 20";
}

TEST(ClusterMapTest, RemovingTheMainPromotesAndAGroupWithoutBackupsHasNoMain) {
  ClusterMap map;
  ASSERT_TRUE(map.AddGroup("g1").ok());
  (void)map.RegisterNode("g1", "a:1");
  (void)map.RegisterNode("g1", "b:1");
  ASSERT_TRUE(map.RemoveNode("a:1").ok());
  EXPECT_EQ(map.MainOf("g1")->address, "b:1");
  ASSERT_TRUE(map.RemoveNode("b:1").ok());
  EXPECT_EQ(map.MainOf("g1"), nullptr);
  EXPECT_FALSE(map.ToState(std::chrono::milliseconds(1500)).groups[0].main.has_value());
  EXPECT_FALSE(map.Promote("g1").ok());
  EXPECT_FALSE(map.RemoveNode("b:1").ok());
}

}  // namespace
}  // namespace trellis::master
