// The choices made from CDB's backup directory (db/backup_catalog.h): which backups a
// restore starts from, what of the archive it replays, what the retention removes, and
// the readers of the directory's files and of a restore's time.
#include "db/backup_catalog.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace trellis::db {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

BackupRecord Full(const std::string& name, const std::string& server, const std::string& position,
                  int64_t started, int64_t finished) {
  return {name, BackupKind::kFull, "", server, position, "binlog.000001", started, finished};
}

BackupRecord Incremental(const std::string& name, const std::string& base,
                         const std::string& server, const std::string& position, int64_t started,
                         int64_t finished) {
  return {name,     BackupKind::kIncremental, base,    server,
          position, "binlog.000002",          started, finished};
}

std::vector<std::string> Names(const std::vector<BackupRecord>& records) {
  std::vector<std::string> names;
  for (const BackupRecord& record : records) {
    names.push_back(record.name);
  }
  return names;
}

proto::mysql::GtidPosition At(const std::string& text) {
  return *proto::mysql::ParseGtidPosition(text);
}

const std::vector<BackupRecord> kBackups = {
    Full("f1", "db1", "0-1-10", 100, 110),
    Incremental("i1", "f1", "db1", "0-1-20", 200, 205),
    Incremental("i2", "i1", "db1", "0-1-30", 300, 305),
    Full("f2", "db2", "0-2-40", 400, 410),
    Incremental("i3", "f2", "db2", "0-2-50", 500, 505),
};

TEST(ChainForTest, TheLastFullBackupFinishedByThenAndItsIncrementals) {
  EXPECT_THAT(Names(*ChainFor(kBackups, 110)), ElementsAre("f1"));
  EXPECT_THAT(Names(*ChainFor(kBackups, 204)), ElementsAre("f1"));
  EXPECT_THAT(Names(*ChainFor(kBackups, 205)), ElementsAre("f1", "i1"));
  EXPECT_THAT(Names(*ChainFor(kBackups, 409)), ElementsAre("f1", "i1", "i2"));
  EXPECT_THAT(Names(*ChainFor(kBackups, 10000)), ElementsAre("f2", "i3"));
}

TEST(ChainForTest, NothingFinishedByThenNamesTheEarliestTime) {
  const auto none = ChainFor(kBackups, 109);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, base::ErrorCode::kNotFound);
  EXPECT_THAT(none.error().message,
              HasSubstr("the earliest time to restore to is 1970-01-01 00:01:50"));
  EXPECT_FALSE(ChainFor({}, 10000).ok());
}

TEST(ChainForTest, AnIncrementalOfAnotherBaseIsNotInTheChain) {
  const std::vector<BackupRecord> backups = {Full("f1", "db1", "0-1-10", 100, 110),
                                             Incremental("i1", "f0", "db1", "0-1-20", 200, 205)};
  EXPECT_THAT(Names(*ChainFor(backups, 1000)), ElementsAre("f1"));
}

TEST(ReplayAfterTest, EachEraFromTheBackupToWhereTheNextBegan) {
  const std::vector<ArchiveEra> eras = {{"1-db1", "db1", "", ""},
                                        {"2-db2", "db2", "0-1-35", "0-1-35"},
                                        {"3-db1", "db1", "0-2-60", "0-2-60"}};
  // Copies that start where their eras do. A backup in the first era: its rest, then each later
  // one.
  EXPECT_THAT(*ReplayAfter(eras, At("0-1-20")), ElementsAre(ReplaySpan{"1-db1", "0-1-20", "0-1-35"},
                                                            ReplaySpan{"2-db2", "0-1-35", "0-2-60"},
                                                            ReplaySpan{"3-db1", "0-2-60", ""}));
  // A backup in the second: the first era is all in it.
  EXPECT_THAT(*ReplayAfter(eras, At("0-2-40")), ElementsAre(ReplaySpan{"2-db2", "0-2-40", "0-2-60"},
                                                            ReplaySpan{"3-db1", "0-2-60", ""}));
  // At an era's very end.
  EXPECT_THAT(*ReplayAfter(eras, At("0-2-60")), ElementsAre(ReplaySpan{"3-db1", "0-2-60", ""}));
  EXPECT_THAT(*ReplayAfter({}, At("0-1-5")), ::testing::IsEmpty());
}

TEST(ReplayAfterTest, AnEraWithoutTransactionsIsSkipped) {
  const std::vector<ArchiveEra> eras = {{"1-db1", "db1", "", ""},
                                        {"2-db2", "db2", "0-1-35", "0-1-35"},
                                        {"3-db1", "db1", "0-1-35", "0-1-35"}};
  EXPECT_THAT(*ReplayAfter(eras, At("0-1-20")), ElementsAre(ReplaySpan{"1-db1", "0-1-20", "0-1-35"},
                                                            ReplaySpan{"3-db1", "0-1-35", ""}));
}

TEST(ReplayAfterTest, TheLatestEraWhoseCopyHasItAllIsReplayedAlone) {
  // Each copy from its server's first transaction: the last has everything after the
  // backup, what the first era's copying missed before its primary failed included.
  const std::vector<ArchiveEra> eras = {
      {"1-db1", "db1", "", ""}, {"2-db2", "db2", "0-1-35", ""}, {"3-db1", "db1", "0-2-60", ""}};
  EXPECT_THAT(*ReplayAfter(eras, At("0-1-20")), ElementsAre(ReplaySpan{"3-db1", "0-1-20", ""}));
  // A copy that starts late (the server's first files were gone): the era before fills
  // in up to where the late one's successor began.
  const std::vector<ArchiveEra> late = {{"1-db1", "db1", "", ""},
                                        {"2-db2", "db2", "0-1-35", "0-1-30"},
                                        {"3-db1", "db1", "0-2-60", "0-2-50"}};
  EXPECT_THAT(*ReplayAfter(late, At("0-1-20")), ElementsAre(ReplaySpan{"1-db1", "0-1-20", "0-1-35"},
                                                            ReplaySpan{"2-db2", "0-1-35", "0-2-60"},
                                                            ReplaySpan{"3-db1", "0-2-60", ""}));
  EXPECT_THAT(*ReplayAfter(late, At("0-1-31")), ElementsAre(ReplaySpan{"2-db2", "0-1-31", "0-2-60"},
                                                            ReplaySpan{"3-db1", "0-2-60", ""}));
}

TEST(ExpiredByTest, KeepsTheNewestFullBackupsAndTheArchiveTheyNeed) {
  const std::vector<ArchiveEra> eras = {{"1-db1", "db1", "", ""},
                                        {"2-db2", "db2", "0-1-35", "0-1-35"}};
  Expired one = ExpiredBy(kBackups, eras, 1);
  EXPECT_THAT(one.backups, ElementsAre("f1", "i1", "i2"));
  EXPECT_THAT(one.era_dirs, ElementsAre("1-db1"));
  EXPECT_EQ(one.era_dir, "2-db2");
  EXPECT_EQ(one.files_before, "binlog.000001");
  Expired two = ExpiredBy(kBackups, eras, 2);
  EXPECT_THAT(two.backups, ::testing::IsEmpty());
  EXPECT_THAT(two.era_dirs, ::testing::IsEmpty());
  EXPECT_EQ(two.era_dir, "1-db1");
  Expired none = ExpiredBy({kBackups[1]}, eras, 1);  // No full backup: nothing goes.
  EXPECT_THAT(none.backups, ::testing::IsEmpty());
  EXPECT_EQ(none.era_dir, "");
}

TEST(BackupRecordTest, ReadsBackWhatItWritesAndRefusesWhatIsWrong) {
  for (const BackupRecord& record : kBackups) {
    EXPECT_EQ(*ParseBackupRecord(ToJson(record)), record);
  }
  nlohmann::json wrong = ToJson(kBackups[1]);
  wrong["base"] = "";
  EXPECT_THAT(ParseBackupRecord(wrong).error().message, HasSubstr("has a base"));
  wrong = ToJson(kBackups[0]);
  wrong["position"] = "not a position";
  EXPECT_THAT(ParseBackupRecord(wrong).error().message, HasSubstr("not a GTID position"));
  wrong = ToJson(kBackups[0]);
  wrong["kind"] = "differential";
  EXPECT_FALSE(ParseBackupRecord(wrong).ok());
  EXPECT_THAT(
      ParseArchiveEras(nlohmann::json::parse(R"([{"dir": "../x", "server": "db1", "since": ""}])"))
          .error()
          .message,
      HasSubstr("plain name"));
}

TEST(BackupNameTest, TheStartInUtcAndTheKind) {
  EXPECT_EQ(BackupName(1764951434, BackupKind::kFull), "20251205T161714Z-full");
  EXPECT_EQ(BackupName(1764951434, BackupKind::kIncremental), "20251205T161714Z-incr");
}

TEST(BinlogInfoTest, ReadsWhatMariadbBackupWrites) {
  const auto info = ParseBinlogInfo("binlog.000001\t1404\t0-1-6\n");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->file, "binlog.000001");
  EXPECT_EQ(info->position, "0-1-6");
  EXPECT_EQ(ParseBinlogInfo("binlog.000001\t4\t\n")->position, "");
  EXPECT_FALSE(ParseBinlogInfo("binlog.000001 4 0-1-6").ok());
  EXPECT_FALSE(ParseBinlogInfo("binlog.000001\t4\tx-y").ok());
}

TEST(RestoreTimeTest, UtcToTheSecondInEitherSpelling) {
  EXPECT_EQ(*ParseRestoreTime("2026-12-05T16:13:24Z"), 1796487204);
  EXPECT_EQ(*ParseRestoreTime("2026-12-05 16:13:24"), 1796487204);
  EXPECT_EQ(FormatUtcTime(1796487204), "2026-12-05 16:13:24");
  for (const char* wrong : {"2026-12-05T16:13:24", "2026-12-05T16:13:24.5Z", "2026-02-30 00:00:00",
                            "2026-12-05 24:00:00", "yesterday", "", "2026-12-05T16:13:24+01:00"}) {
    EXPECT_FALSE(ParseRestoreTime(wrong).ok()) << wrong;
  }
}

TEST(BackupRequestTest, FullOrIncremental) {
  EXPECT_EQ(ParseBackupRequest(ToJson(BackupRequest{BackupKind::kIncremental}))->kind,
            BackupKind::kIncremental);
  EXPECT_FALSE(ParseBackupRequest(nlohmann::json::parse(R"({"kind": "all"})")).ok());
  EXPECT_FALSE(ParseBackupRequest(nlohmann::json::parse("[]")).ok());
}

}  // namespace
}  // namespace trellis::db
