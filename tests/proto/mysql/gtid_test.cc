#include "proto/mysql/gtid.h"

#include <gtest/gtest.h>

namespace trellis::proto::mysql {
namespace {

GtidPosition Position(std::string_view text) {
  const auto parsed = ParseGtidPosition(text);
  EXPECT_TRUE(parsed.has_value()) << text;
  return parsed.value_or(GtidPosition{});
}

TEST(GtidTest, ReadsWhatMariaDbWrites) {
  // SHOW SLAVE STATUS wraps a long Gtid_IO_Pos after its commas.
  const GtidPosition position = Position("0-1-42,\n1-2-7");
  ASSERT_EQ(position.domains.size(), 2u);
  EXPECT_EQ(position.domains.at(0), (Gtid{1, 42}));
  EXPECT_EQ(position.domains.at(1), (Gtid{2, 7}));
  EXPECT_EQ(FormatGtidPosition(position), "0-1-42,1-2-7");
  EXPECT_TRUE(Position("").domains.empty());
  EXPECT_EQ(FormatGtidPosition(Position(" ")), "");
  EXPECT_EQ(Position("0-4294967295-18446744073709551615").domains.at(0).sequence,
            18446744073709551615u);
}

TEST(GtidTest, RefusesWhatIsNotAPosition) {
  for (std::string_view bad :
       {"0-1", "0-1-", "-1-2", "a-1-2", "0-1-2,", "0-1-2,0-3-4", "0-1-2-3", "0--1-2",
        "0-4294967296-1", "0-1-18446744073709551616", "0-1-+2", ",0-1-2"}) {
    EXPECT_FALSE(ParseGtidPosition(bad).has_value()) << bad;
  }
}

TEST(GtidTest, OnePositionCoversAnotherWhenEveryDomainIsAsFar) {
  EXPECT_TRUE(Position("0-1-42").Covers(Position("0-2-41")));
  EXPECT_TRUE(Position("0-1-42").Covers(Position("0-1-42")));
  EXPECT_FALSE(Position("0-1-41").Covers(Position("0-1-42")));
  EXPECT_TRUE(Position("0-1-42").Covers(Position("")));
  EXPECT_FALSE(Position("").Covers(Position("0-1-1")));
  EXPECT_FALSE(Position("0-1-42").Covers(Position("0-1-40,1-1-1")));
  EXPECT_TRUE(Position("0-1-42,1-1-1").Covers(Position("0-1-40")));
}

TEST(GtidTest, MergeTakesTheLaterOfEachDomain) {
  GtidPosition merged = Position("0-1-42,1-1-3");
  merged.Merge(Position("0-2-40,1-2-5,2-2-1"));
  EXPECT_EQ(FormatGtidPosition(merged), "0-1-42,1-2-5,2-2-1");
  EXPECT_EQ(merged.Total(), 48u);
}

}  // namespace
}  // namespace trellis::proto::mysql
