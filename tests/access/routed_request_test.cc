// The pure parts of routing while slots move: which tables are versioned, where a slot in
// the dual step goes, and what kind of command each request is.
#include "access/routed_request.h"

#include <gtest/gtest.h>

#include "access/route_follower.h"
#include "proto/memcache/request_reader.h"

namespace trellis::access {
namespace {

using master::MovePhase;
using master::SlotRange;
using Kind = RoutedRequest::Kind;

master::ClusterState TwoGroupsWithAMove(MovePhase phase) {
  master::ClusterState map;
  map.version = 12;
  for (const char* name : {"g1", "g2"}) {
    master::GroupState& group = map.groups.emplace_back();
    group.name = name;
  }
  map.slot_ranges = {
      SlotRange{0, 99, "g1", 0, "g2", phase},
      SlotRange{100, master::ClusterState::kSlots - 1, "g2", 0, std::nullopt, MovePhase::kPrepare}};
  return map;
}

std::string KeyOfSlot(uint32_t slot) {
  for (int i = 0;; ++i) {
    std::string key = "k" + std::to_string(i);
    if (RouteTable::SlotOf(key) == slot) {
      return key;
    }
  }
}

TEST(RoutedRequestTest, ADualSlotGoesToItsTargetWithItsSourceToFallBackOn) {
  const std::string moving = KeyOfSlot(50);
  const std::string settled = KeyOfSlot(500);
  const RouteTable dual = RouteTableOf(TwoGroupsWithAMove(MovePhase::kDual));
  EXPECT_TRUE(dual.versioned());
  EXPECT_EQ(dual.version(), 12u);
  EXPECT_EQ(dual.GroupIndexOf(moving), 1u);
  EXPECT_EQ(dual.DualSourceOf(moving), 0u);
  EXPECT_EQ(dual.DualSourceOf(settled), RouteTable::kNotMoving);

  const RouteTable prepare = RouteTableOf(TwoGroupsWithAMove(MovePhase::kPrepare));
  EXPECT_EQ(prepare.GroupIndexOf(moving), 0u) << "prepare: still the source's";
  EXPECT_EQ(prepare.DualSourceOf(moving), RouteTable::kNotMoving);

  std::vector<GroupRoute> groups(1);
  EXPECT_FALSE(RouteTable::Even(groups, 1).versioned()) << "a static table says no version";
}

// The kind of the first request of `text`.
Kind KindOfText(const std::string& text) {
  struct Input {
    std::string bytes;
    std::string_view input() const { return bytes; }
    void Consume(size_t) {}
  } input{text};
  proto::memcache::RequestReader reader(1024);
  reader.Next(input);
  return KindOf(reader.request());
}

TEST(RoutedRequestTest, EachCommandHasTheKindOfWhatItDoesToItsKey) {
  EXPECT_EQ(KindOfText("get a\r\n"), Kind::kRead);
  EXPECT_EQ(KindOfText("gets a b\r\n"), Kind::kRead);
  EXPECT_EQ(KindOfText("mg a v\r\n"), Kind::kRead);
  EXPECT_EQ(KindOfText("mg a v T30\r\n"), Kind::kModify) << "a touch";
  EXPECT_EQ(KindOfText("mg a v N30\r\n"), Kind::kModify) << "vivify";
  EXPECT_EQ(KindOfText("set a 0 0 1\r\nx\r\n"), Kind::kStore);
  EXPECT_EQ(KindOfText("ms a 1\r\nx\r\n"), Kind::kStore);
  EXPECT_EQ(KindOfText("ms a 1 MS\r\nx\r\n"), Kind::kStore);
  EXPECT_EQ(KindOfText("ms a 1 ME\r\nx\r\n"), Kind::kModify) << "add";
  EXPECT_EQ(KindOfText("ms a 1 C5\r\nx\r\n"), Kind::kModify) << "cas";
  for (const char* modify :
       {"add a 0 0 1\r\nx\r\n", "replace a 0 0 1\r\nx\r\n", "append a 0 0 1\r\nx\r\n",
        "prepend a 0 0 1\r\nx\r\n", "cas a 0 0 1 9\r\nx\r\n", "incr a 1\r\n", "decr a 1\r\n",
        "touch a 10\r\n", "gat 10 a\r\n", "gats 10 a\r\n", "ma a\r\n"}) {
    EXPECT_EQ(KindOfText(modify), Kind::kModify) << modify;
  }
  EXPECT_EQ(KindOfText("delete a\r\n"), Kind::kDelete);
  EXPECT_EQ(KindOfText("md a q\r\n"), Kind::kDelete);
  EXPECT_EQ(KindOfText("md a C7\r\n"), Kind::kConditionalDelete);
  EXPECT_EQ(KindOfText("md a I\r\n"), Kind::kConditionalDelete);
}

}  // namespace
}  // namespace trellis::access
