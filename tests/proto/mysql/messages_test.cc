// The command phase's small messages (messages.h): OK, ERR (with and without a SQLSTATE)
// and EOF packets, parsed from real MariaDB 10.11 bytes and round tripped through their
// encoders; what is not one of them is refused.
#include "proto/mysql/messages.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "testing/hex.h"

namespace trellis::proto::mysql {
namespace {

using testing::FromHex;

// MariaDB 10.11.19's answers (payloads), captured on loopback.
// INSERT INTO t VALUES (1,'a'),(2,'b'),(3,'c'): 3 rows, autocommit, an info string.
constexpr std::string_view kInsertOkHex =
    "00030002000000265265636f7264733a203320204475706c6963617465733a203020205761726e696e67"
    "733a2030";
// SELECT * FROM nosuch: ERR 1146, SQLSTATE 42S02.
constexpr std::string_view kNoSuchTableErrHex =
    "ff7a042334325330325461626c65202773686f702e6e6f737563682720646f65736e2774206578697374";
// The end of a result set in a transaction: warnings 0, status 0x0023.
constexpr std::string_view kEofInTransactionHex = "fe00002300";

TEST(OkPacketTest, ParsesARealOk) {
  const std::string payload = FromHex(kInsertOkHex);
  OkPacket ok;
  ASSERT_TRUE(ParseOk(payload, &ok));
  EXPECT_EQ(ok.affected_rows, 3u);
  EXPECT_EQ(ok.last_insert_id, 0u);
  EXPECT_EQ(ok.status, server_status::kAutocommit);
  EXPECT_EQ(ok.warnings, 0);
  // MariaDB writes the info string with a length byte ("&", 38).
  EXPECT_TRUE(ok.info.ends_with("Records: 3  Duplicates: 0  Warnings: 0"));
}

TEST(OkPacketTest, RoundTripsWithWideIntegers) {
  OkPacket ok;
  ok.affected_rows = 0x10000;
  ok.last_insert_id = 0x123456789ULL;
  ok.status = server_status::kInTransaction | server_status::kMoreResults;
  ok.warnings = 7;
  ok.info = "info";
  std::string payload;
  AppendOk(payload, ok);
  EXPECT_EQ(payload[0], '\0');
  OkPacket parsed;
  ASSERT_TRUE(ParseOk(payload, &parsed));
  EXPECT_EQ(parsed.affected_rows, ok.affected_rows);
  EXPECT_EQ(parsed.last_insert_id, ok.last_insert_id);
  EXPECT_EQ(parsed.status, ok.status);
  EXPECT_EQ(parsed.warnings, ok.warnings);
  EXPECT_EQ(parsed.info, "info");
}

TEST(OkPacketTest, AnOkStandingForAnEofStartsWith0xFE) {
  OkPacket ok;
  ASSERT_TRUE(ParseOk(std::string_view("\xFE\x00\x00\x02\x00\x00\x00", 7), &ok));
  EXPECT_EQ(ok.status, server_status::kAutocommit);
}

TEST(OkPacketTest, WhatIsNotAnOkIsRefused) {
  OkPacket ok;
  EXPECT_FALSE(ParseOk("", &ok));
  EXPECT_FALSE(ParseOk(FromHex(kNoSuchTableErrHex), &ok));
  EXPECT_FALSE(ParseOk(std::string_view("\x00\x00\x00\x02\x00\x00", 6), &ok));  // No warnings.
  EXPECT_FALSE(ParseOk(std::string_view("\x00\xFB\x00\x02\x00\x00\x00", 7), &ok));
  EXPECT_FALSE(ParseOk(std::string_view("\x01\x00\x00\x02\x00\x00\x00", 7), &ok));
}

TEST(ErrPacketTest, ParsesARealErrWithItsSqlState) {
  const std::string payload = FromHex(kNoSuchTableErrHex);
  ErrPacket err;
  ASSERT_TRUE(ParseErr(payload, &err));
  EXPECT_EQ(err.code, 1146);
  EXPECT_EQ(err.sql_state, "42S02");
  EXPECT_EQ(err.message, "Table 'shop.nosuch' doesn't exist");
}

TEST(ErrPacketTest, AnErrWithoutSqlStateKeepsItsWholeMessage) {
  ErrPacket err;
  ASSERT_TRUE(ParseErr("\xFF\x10\x04Too many connections", &err));
  EXPECT_EQ(err.code, 1040);
  EXPECT_EQ(err.sql_state, "");
  EXPECT_EQ(err.message, "Too many connections");
}

TEST(ErrPacketTest, RoundTripsWithASqlState) {
  std::string payload;
  AppendErr(payload, 1045, "28000", "Access denied");
  EXPECT_EQ(payload, "\xFF\x15\x04#28000Access denied");
  ErrPacket err;
  ASSERT_TRUE(ParseErr(payload, &err));
  EXPECT_EQ(err.code, 1045);
  EXPECT_EQ(err.sql_state, "28000");
  EXPECT_EQ(err.message, "Access denied");
}

TEST(ErrPacketTest, AShortSqlStateIsPaddedToFiveCharacters) {
  std::string payload;
  AppendErr(payload, 2013, "", "Lost connection");
  ErrPacket err;
  ASSERT_TRUE(ParseErr(payload, &err));
  EXPECT_EQ(err.sql_state, "00000");
  EXPECT_EQ(err.message, "Lost connection");
  payload.clear();
  AppendErr(payload, 1, "HY", "m");
  ASSERT_TRUE(ParseErr(payload, &err));
  EXPECT_EQ(err.sql_state, "HY000");
}

TEST(ErrPacketTest, WhatIsNotAnErrIsRefused) {
  ErrPacket err;
  EXPECT_FALSE(ParseErr("", &err));
  EXPECT_FALSE(ParseErr("\xFF\x15", &err));
  EXPECT_FALSE(ParseErr(FromHex(kInsertOkHex), &err));
  EXPECT_FALSE(ParseErr("\xFF\x15\x04#2800", &err));  // A "#" and too short a SQLSTATE.
}

TEST(EofPacketTest, ParsesARealEof) {
  const std::string payload = FromHex(kEofInTransactionHex);
  EXPECT_TRUE(IsEof(payload));
  EofPacket eof;
  ASSERT_TRUE(ParseEof(payload, &eof));
  EXPECT_EQ(eof.warnings, 0);
  EXPECT_EQ(eof.status, server_status::kInTransaction | server_status::kAutocommit | 0x0020);
}

TEST(EofPacketTest, RoundTrips) {
  std::string payload;
  AppendEof(payload, EofPacket{.warnings = 3, .status = server_status::kMoreResults});
  EXPECT_EQ(payload, std::string_view("\xFE\x03\x00\x08\x00", 5));
  EofPacket eof;
  ASSERT_TRUE(ParseEof(payload, &eof));
  EXPECT_EQ(eof.warnings, 3);
  EXPECT_EQ(eof.status, server_status::kMoreResults);
}

TEST(EofPacketTest, A40EofIsTheMarkerAlone) {
  EofPacket eof{.warnings = 9, .status = 9};
  ASSERT_TRUE(ParseEof("\xFE", &eof));
  EXPECT_EQ(eof.warnings, 0);
  EXPECT_EQ(eof.status, 0);
}

TEST(EofPacketTest, APayloadOfNineBytesOrMoreStartingWith0xFEIsARow) {
  // A text row whose first value has an 8-byte length: 9 bytes at least.
  const std::string_view row("\xFE\x00\x00\x00\x00\x00\x00\x00\x00", 9);
  EXPECT_FALSE(IsEof(row));
  EofPacket eof;
  EXPECT_FALSE(ParseEof(row, &eof));
  EXPECT_TRUE(IsEof(std::string_view("\xFE\x00\x00\x02\x00\x00\x00\x00", 8)));
}

TEST(EofPacketTest, WhatIsNotAnEofIsRefused) {
  EofPacket eof;
  EXPECT_FALSE(IsEof(""));
  EXPECT_FALSE(ParseEof("", &eof));
  EXPECT_FALSE(ParseEof(std::string_view("\x00\x00\x00\x02\x00", 5), &eof));
  EXPECT_FALSE(ParseEof(std::string_view("\xFE\x00\x00", 3), &eof));  // Warnings, no status.
}

}  // namespace
}  // namespace trellis::proto::mysql
