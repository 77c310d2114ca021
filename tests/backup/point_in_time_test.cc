// Point-in-time state from a group archive's files: the ranges a chain of a dump and its
// segments can restore, the gap a new log leaves, each key's value at a second, keys that
// moved between groups, and the plan that takes the newest state back to it.
#include "backup/point_in_time.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "backup/backup_api.h"
#include "backup/group_archive.h"
#include "testing/temp_dir.h"

namespace trellis::backup {
namespace {

using cache::MutationOp;
using cache::MutationRecord;

MutationRecord Store(uint64_t sequence, std::string_view key, std::string_view value, uint32_t time,
                     MutationOp op = MutationOp::kStore) {
  return {sequence, op, key, value, 0, 0, 0, time};
}

MutationRecord Delete(uint64_t sequence, std::string_view key, uint32_t time,
                      MutationOp op = MutationOp::kDelete) {
  return {sequence, op, key, {}, 0, 0, 0, time};
}

std::optional<std::string> ValueAt(const std::filesystem::path& dir, uint32_t at,
                                   const std::string& key, uint32_t live_until = 0) {
  ClusterState state;
  EXPECT_TRUE(AddGroupStateAt(dir, at, live_until, &state));
  const auto it = state.find(key);
  if (it == state.end() || !it->second.item) {
    return std::nullopt;
  }
  return it->second.item->value;
}

class PointInTimeTest : public ::testing::Test {
 protected:
  // Adds to `group`'s archive a dump of log `log` taken from position `after` holding
  // `items`, then the stream's `records`.
  void WriteArchive(const std::string& group, uint64_t log, uint64_t after,
                    const std::vector<MutationRecord>& items,
                    const std::vector<MutationRecord>& records) {
    auto archive = GroupArchive::Open(dir_.path() / group, group, {});
    ASSERT_TRUE(archive);
    ASSERT_TRUE((*archive)->BeginDump(log));
    for (const MutationRecord& item : items) {
      ASSERT_TRUE((*archive)->AddDumpItem(item));
    }
    ASSERT_TRUE((*archive)->FinishDump(after));
    for (const MutationRecord& record : records) {
      ASSERT_TRUE((*archive)->Append(record));
    }
    ASSERT_TRUE((*archive)->Flush());
  }

  const uint32_t now_ = static_cast<uint32_t>(time(nullptr));
  // Records stamped an hour on: after the dumps' end, which is the test's now.
  const uint32_t t_ = now_ + 3600;
  testing::TempDir dir_;
};

TEST_F(PointInTimeTest, SecondsBeforeTheDumpEndedAreRefused) {
  // The dump ends now; its snapshot may hold any write made before then, so no earlier
  // second can be told apart.
  WriteArchive("g1", 7, 10, {Store(0, "a", "a0", 99)}, {Store(11, "a", "a1", 101)});
  ClusterState state;
  const base::Status refused = AddGroupStateAt(dir_.path() / "g1", 101, 0, &state);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("not restorable"), std::string::npos)
      << refused.error().message;
}

TEST_F(PointInTimeTest, ValuesAtEachSecondAndTheGapOfANewLog) {
  const uint32_t t = t_;
  const auto g1 = dir_.path() / "g1";
  WriteArchive("g1", 7, 10, {Store(0, "a", "a0", now_ - 5)},
               {Store(11, "a", "a1", t + 1), Store(12, "b", "b1", t + 2),
                Store(13, "b", "repeated", t + 2), Delete(14, "a", t + 4)});
  // Reopened (as after a crash): it goes on from sequence 14 of log 7.
  auto reopened = GroupArchive::Open(g1, "g1", {});
  ASSERT_TRUE(reopened);
  ASSERT_TRUE((*reopened)->position());
  EXPECT_EQ((*reopened)->position()->log_id, 7u);
  EXPECT_EQ((*reopened)->position()->sequence, 14u);

  EXPECT_EQ(ValueAt(g1, t, "a"), "a0");
  EXPECT_EQ(ValueAt(g1, t + 1, "a"), "a1");
  EXPECT_EQ(ValueAt(g1, t + 1, "b"), std::nullopt);
  EXPECT_EQ(ValueAt(g1, t + 2, "b"), "repeated");
  EXPECT_EQ(ValueAt(g1, t + 4, "a"), std::nullopt);

  // The main's log lost the position: a new dump of log 8 starts a new chain; the
  // seconds between the chains are refused.
  reopened->reset();
  WriteArchive("g1", 8, 3, {Store(0, "b", "b2", now_)}, {Store(4, "c", "c1", t + 20)});
  auto ranges = RestorableRanges(g1, t + 30);
  ASSERT_TRUE(ranges);
  ASSERT_EQ(ranges->size(), 2u) << "one per log";
  EXPECT_EQ((*ranges)[0].to, t + 4);
  EXPECT_EQ((*ranges)[1].to, t + 30) << "the live chain reaches what the stream has";
  EXPECT_EQ(ValueAt(g1, t + 25, "b", t + 30), "b2");
  EXPECT_EQ(ValueAt(g1, t + 25, "c", t + 30), "c1");
}

TEST_F(PointInTimeTest, APromotedBackupsLogContinuesTheChainWithoutAGap) {
  const uint32_t t = t_;
  const auto g1 = dir_.path() / "g1";
  WriteArchive("g1", 7, 10, {Store(0, "a", "a0", now_ - 5)},
               {Store(11, "a", "a1", t + 1), Store(12, "b", "b1", t + 2)});
  {
    // The main failed over: its backup's log 9 continues log 7 from sequence 12.
    auto archive = GroupArchive::Open(g1, "g1", {});
    ASSERT_TRUE(archive);
    ASSERT_TRUE((*archive)->ContinueAs(9));
    ASSERT_TRUE((*archive)->Append(Store(13, "a", "a2", t + 5)));
    ASSERT_TRUE((*archive)->Append(Delete(14, "b", t + 6)));
    ASSERT_TRUE((*archive)->Flush());
  }
  auto reopened = GroupArchive::Open(g1, "g1", {});
  ASSERT_TRUE(reopened);
  ASSERT_TRUE((*reopened)->position());
  EXPECT_EQ((*reopened)->position()->log_id, 9u) << "the stream goes on in the new log";
  EXPECT_EQ((*reopened)->position()->sequence, 14u);
  reopened->reset();

  auto ranges = RestorableRanges(g1, 0);
  ASSERT_TRUE(ranges);
  ASSERT_EQ(ranges->size(), 1u) << "no gap at the failover";
  EXPECT_EQ((*ranges)[0].to, t + 6);
  EXPECT_EQ(ValueAt(g1, t + 2, "a"), "a1");
  EXPECT_EQ(ValueAt(g1, t + 2, "b"), "b1");
  EXPECT_EQ(ValueAt(g1, t + 5, "a"), "a2");
  EXPECT_EQ(ValueAt(g1, t + 6, "b"), std::nullopt);

  // A periodic dump of the new log joins the same range.
  WriteArchive("g1", 9, 14, {Store(0, "a", "a2", now_)}, {Store(15, "c", "c1", t + 8)});
  ranges = RestorableRanges(g1, 0);
  ASSERT_TRUE(ranges);
  ASSERT_EQ(ranges->size(), 1u);
  EXPECT_EQ(ValueAt(g1, t + 8, "c"), "c1");
}

TEST_F(PointInTimeTest, RetentionRemovesOnlyChainsThatEndBeforeItsStart) {
  const uint32_t t = t_;
  const auto g1 = dir_.path() / "g1";
  WriteArchive("g1", 7, 10, {Store(0, "a", "a0", now_ - 5)}, {Store(11, "a", "a1", t + 1)});
  WriteArchive("g1", 8, 3, {Store(0, "a", "a1", now_)}, {Store(4, "a", "a2", t + 20)});
  auto files = GroupArchive::List(g1);
  ASSERT_TRUE(files);
  ASSERT_EQ(files->size(), 4u);
  auto none = FilesNotNeededFrom(g1, t + 1);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty()) << "second t+1 needs the first chain";
  // The first chain's files: those of log 7 (by name they may sort after one of log 8's
  // when both were written in the same millisecond).
  std::vector<std::filesystem::path> first_chain;
  for (const ArchiveFileInfo& file : *files) {
    if (file.header.log_id == 7) {
      first_chain.push_back(file.path);
    }
  }
  auto old = FilesNotNeededFrom(g1, t + 2);
  ASSERT_TRUE(old);
  EXPECT_EQ(*old, first_chain);
  auto all_but_the_newest = FilesNotNeededFrom(g1, t + 100);
  ASSERT_TRUE(all_but_the_newest);
  EXPECT_EQ(all_but_the_newest->size(), 2u) << "the chain the stream writes stays";
}

TEST(PlanRestoreTest, SetsWhatChangedDeletesWhatIsNewAndCountsTheRest) {
  const uint32_t at = 1000;
  ClusterState then = {{"kept", {900, ItemState{"v", 1, 0}}},
                       {"changed", {900, ItemState{"old", 2, 0}}},
                       {"rewritten", {900, ItemState{"same", 0, 0}}},
                       {"deleted", {900, ItemState{"gone", 0, 0}}},
                       {"expired", {900, ItemState{"x", 0, 1500}}}};
  ClusterState now = {{"kept", {900, ItemState{"v", 1, 0}}},
                      {"changed", {1100, ItemState{"new", 2, 0}}},
                      {"rewritten", {1100, ItemState{"same", 0, 0}}},
                      {"deleted", {1100, std::nullopt}},
                      {"created", {1100, ItemState{"n", 0, 0}}}};
  const RestorePlan plan = PlanRestore(then, now, at, /*unix_now=*/2000);
  ASSERT_EQ(plan.sets.size(), 2u);
  std::map<std::string, std::string> sets;
  for (const auto& [key, item] : plan.sets) {
    sets[key] = item.value;
  }
  EXPECT_EQ(sets, (std::map<std::string, std::string>{{"changed", "old"}, {"deleted", "gone"}}));
  EXPECT_EQ(plan.deletes, std::vector<std::string>{"created"})
      << "an item that has expired by now is not written back";
  EXPECT_EQ(plan.unchanged, 1u);
}

TEST_F(PointInTimeTest, AKeyThatMovedIsTheNewGroupsFromItsMove) {
  const uint32_t t = t_;
  WriteArchive("g1", 1, 1, {Store(0, "k", "v0", now_ - 1)},
               {Delete(2, "k", t + 2, MutationOp::kMoveOut)});
  WriteArchive("g2", 1, 1, {},
               {Store(2, "k", "v0", t + 1, MutationOp::kMoveIn), Store(3, "k", "v1", t + 3)});
  for (uint32_t at : {t, t + 1, t + 2, t + 3}) {
    ClusterState state;
    ASSERT_TRUE(AddGroupStateAt(dir_.path() / "g1", at, t + 3, &state));
    ASSERT_TRUE(AddGroupStateAt(dir_.path() / "g2", at, t + 3, &state));
    ASSERT_TRUE(state.contains("k") && state["k"].item) << "at t+" << at - t;
    EXPECT_EQ(state["k"].item->value, at < t + 3 ? "v0" : "v1") << "at t+" << at - t;
  }
}

TEST_F(PointInTimeTest, ACorruptSegmentFailsTheSecondsThatNeedItOnly) {
  const uint32_t t = t_;
  const auto g1 = dir_.path() / "g1";
  WriteArchive("g1", 7, 10, {Store(0, "a", "a0", now_ - 5)}, {Store(11, "a", "a1", t + 1)});
  auto files = GroupArchive::List(g1);
  ASSERT_TRUE(files);
  ASSERT_EQ(files->size(), 2u);
  const auto segment = files->back().path;
  {
    std::fstream file(segment, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(files->back().bytes - 3));
    file.put('\x7f');
  }
  auto listed = GroupArchive::List(g1);
  ASSERT_TRUE(listed) << "a corrupt file is listed with its error";
  EXPECT_NE(listed->back().error.find("offset"), std::string::npos) << listed->back().error;

  ClusterState state;
  const base::Status refused = AddGroupStateAt(g1, t + 1, 0, &state);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find(segment.filename().string()), std::string::npos)
      << refused.error().message;
  EXPECT_NE(refused.error().message.find("offset"), std::string::npos) << refused.error().message;
  auto ranges = RestorableRanges(g1, 0);
  ASSERT_TRUE(ranges);
  ASSERT_EQ(ranges->size(), 1u);
  EXPECT_EQ((*ranges)[0].to, (*ranges)[0].from) << "up to the corrupt segment: the dump's end";
  EXPECT_EQ(ValueAt(g1, (*ranges)[0].from, "a"), "a0") << "the dump alone holds that second";
}

TEST(ParseTimeTest, UnixSecondsRelativeAndRfc3339) {
  EXPECT_EQ(*ParseTime("1796357136", 0), 1796357136u);
  EXPECT_EQ(*ParseTime("-30s", 1000), 970u);
  EXPECT_EQ(*ParseTime("-5m", 1000), 700u);
  EXPECT_EQ(*ParseTime("-1h", 7200), 3600u);
  EXPECT_EQ(*ParseTime("2026-12-04T04:05:36Z", 0), 1796357136u);
  EXPECT_EQ(*ParseTime("2026-12-04T05:05:36.250+01:00", 0), 1796357136u);
  for (const char* bad : {"", "-", "-5x", "soon", "2026-12-04", "2026-12-04T04:05:36", "-1d"}) {
    EXPECT_FALSE(ParseTime(bad, 1000)) << bad;
  }
}

}  // namespace
}  // namespace trellis::backup
