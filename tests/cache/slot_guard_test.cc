#include "cache/slot_guard.h"

#include <gtest/gtest.h>

#include <string>

#include "base/cluster_slot.h"

namespace trellis::cache {
namespace {

using master::MovePhase;
using master::SlotRange;

// A key of cluster slot `slot`.
std::string KeyOfSlot(uint32_t slot) {
  for (int i = 0;; ++i) {
    std::string key = "key" + std::to_string(i);
    if (base::ClusterSlotOf(key) == slot) {
      return key;
    }
  }
}

proto::memcache::Request Get(const std::string& key) {
  proto::memcache::Request request;
  request.command = proto::memcache::Command::kMetaGet;
  request.key = key;
  return request;
}

// Slots 0-9 of g1 (since 3), 10-19 moving from g1 to g2 at `phase` since 7, the rest g2's.
master::ClusterState Map(MovePhase phase) {
  master::ClusterState map;
  map.version = 8;
  map.slot_ranges = {
      SlotRange{0, 9, "g1", 3, std::nullopt, MovePhase::kPrepare},
      SlotRange{10, 19, "g1", 7, "g2", phase},
      SlotRange{20, master::ClusterState::kSlots - 1, "g2", 0, std::nullopt, MovePhase::kPrepare}};
  return map;
}

TEST(SlotGuardTest, ANodeServesItsSlotsFromTheirLastChangeOnAndAMovingSlotOnlyInTheDualStep) {
  SlotGuard g1(true);
  const std::string of_g1 = KeyOfSlot(5);
  const std::string moving = KeyOfSlot(15);
  const std::string of_g2 = KeyOfSlot(100);
  EXPECT_FALSE(g1.Allows(100, Get(of_g1))) << "no map yet: nothing versioned is served";

  g1.Update(Map(MovePhase::kPrepare), "g1");
  EXPECT_TRUE(g1.Allows(3, Get(of_g1)));
  EXPECT_FALSE(g1.Allows(2, Get(of_g1))) << "routed by a map from before the slot came";
  EXPECT_FALSE(g1.Allows(100, Get(moving))) << "prepare: not even a newer map";
  EXPECT_FALSE(g1.Allows(100, Get(of_g2))) << "misrouted";

  SlotGuard g2(true);
  g2.Update(Map(MovePhase::kPrepare), "g2");
  EXPECT_FALSE(g2.Allows(100, Get(moving)));
  EXPECT_TRUE(g2.Allows(0, Get(of_g2)));

  g1.Update(Map(MovePhase::kDual), "g1");
  g2.Update(Map(MovePhase::kDual), "g2");
  for (SlotGuard* guard : {&g1, &g2}) {
    EXPECT_TRUE(guard->Allows(7, Get(moving)));
    EXPECT_FALSE(guard->Allows(6, Get(moving))) << "an access node that routes by the old map";
  }

  proto::memcache::Request multi;
  multi.command = proto::memcache::Command::kGet;
  multi.keys = {of_g1, of_g2};
  multi.key = multi.keys[0];
  EXPECT_FALSE(g1.Allows(100, multi)) << "one refused key refuses the request";
  multi.keys = {of_g1, moving};
  EXPECT_TRUE(g1.Allows(7, multi));

  proto::memcache::Request stats;
  stats.command = proto::memcache::Command::kStats;
  EXPECT_TRUE(g1.Allows(0, stats)) << "no key, nothing to check";

  SlotGuard standalone(false);
  EXPECT_TRUE(standalone.Allows(0, Get(of_g2))) << "a node without a master checks nothing";
}

TEST(SlotGuardTest, TheMapVersionCommandTakesOneNumber) {
  uint64_t version = 0;
  EXPECT_TRUE(ParseMapVersionCommand("mapv 42\r\n", &version));
  EXPECT_EQ(version, 42u);
  EXPECT_TRUE(ParseMapVersionCommand("mapv 7", &version));
  EXPECT_EQ(version, 7u);
  for (const char* bad : {"mapv\r\n", "mapv \r\n", "mapv x\r\n", "mapv 1 2\r\n", "map 1\r\n",
                          "mapv -1\r\n", "mapv 99999999999999999999999\r\n"}) {
    EXPECT_FALSE(ParseMapVersionCommand(bad, &version)) << bad;
  }
}

}  // namespace
}  // namespace trellis::cache
