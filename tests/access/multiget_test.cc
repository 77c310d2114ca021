#include "access/multiget.h"

#include <gtest/gtest.h>

#include "access/route_table.h"

namespace trellis::access {
namespace {

using proto::memcache::Command;

TEST(MultiGetTest, RequestsCarryTheCommandAndGatsExptime) {
  EXPECT_EQ(BuildGetRequest(Command::kGet, 0, {"a", "b"}), "get a b\r\n");
  EXPECT_EQ(BuildGetRequest(Command::kGets, 0, {"a"}), "gets a\r\n");
  EXPECT_EQ(BuildGetRequest(Command::kGat, -1, {"a"}), "gat -1 a\r\n");
  EXPECT_EQ(BuildGetRequest(Command::kGats, 30, {"a", "c"}), "gats 30 a c\r\n");
}

TEST(MultiGetTest, HitsComeBackInTheOrderOfTheRequestsKeys) {
  // Keys a, b, a, c, d: a and c from part 0, b and d from part 1; d misses; a twice.
  const std::vector<std::string> keys = {"a", "b", "a", "c", "d"};
  const std::vector<size_t> part_of_key = {0, 1, 0, 0, 1};
  const std::vector<std::string> parts = {
      "VALUE a 1 2\r\naa\r\nVALUE a 1 2\r\naa\r\nVALUE c 3 1 99\r\nc\r\nEND\r\n",
      "VALUE b 2 4\r\nb\r\nb\r\nEND\r\n"};
  EXPECT_EQ(MergeGetReplies(keys, part_of_key, parts),
            "VALUE a 1 2\r\naa\r\nVALUE b 2 4\r\nb\r\nb\r\nVALUE a 1 2\r\naa\r\n"
            "VALUE c 3 1 99\r\nc\r\nEND\r\n");
}

TEST(MultiGetTest, AnErrorFromAnyPartIsTheReply) {
  const std::vector<std::string> parts = {"VALUE a 0 1\r\na\r\nEND\r\n",
                                          "SERVER_ERROR backend down\r\n"};
  EXPECT_EQ(MergeGetReplies({"a", "b"}, {0, 1}, parts), "SERVER_ERROR backend down\r\n");
  EXPECT_EQ(MergeGetReplies({"a", "b"}, {0, 1}, {"VALUE a 0 9\r\na\r\nEND\r\n", "END\r\n"}),
            "VALUE a 0 9\r\na\r\nEND\r\n")
      << "a value shorter than its header says is not a reply to merge";
}

TEST(RouteTableTest, SlotsSplitEvenlyInGroupOrder) {
  std::vector<GroupRoute> groups(3);
  groups[0].name = "a";
  groups[1].name = "b";
  groups[2].name = "c";
  const RouteTable table = RouteTable::Even(groups, 7);
  EXPECT_EQ(table.version(), 7u);
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 30000; ++i) {
    ++counts[table.GroupIndexOf("key" + std::to_string(i))];
  }
  for (int count : counts) {
    EXPECT_NEAR(count, 10000, 600);
  }
  EXPECT_EQ(RouteTable::SlotOf("foo"), RouteTable::SlotOf("foo"));
  EXPECT_LT(RouteTable::SlotOf("foo"), RouteTable::kSlots);
}

TEST(RouteTableTest, GroupSpecsNameMainThenBackups) {
  auto group = RouteTable::ParseGroup("g1=127.0.0.1:11211,127.0.0.1:11212");
  ASSERT_TRUE(group.ok()) << group.error().message;
  EXPECT_EQ(group->name, "g1");
  ASSERT_TRUE(group->main.has_value());
  EXPECT_EQ(group->main->port(), 11211);
  ASSERT_EQ(group->backups.size(), 1u);
  EXPECT_EQ(group->backups[0].port(), 11212);
  for (const char* bad : {"g1", "=127.0.0.1:1", "g1=", "g1=nohost", "g1=127.0.0.1:99999"}) {
    EXPECT_FALSE(RouteTable::ParseGroup(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace trellis::access
