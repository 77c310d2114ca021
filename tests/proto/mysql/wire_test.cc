// The MySQL protocol's basic types (wire.h): fixed-width little-endian integers,
// length-encoded integers at each width boundary, length-encoded and NUL-terminated
// strings, and a reader that refuses short input without moving.
#include "proto/mysql/wire.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace trellis::proto::mysql {
namespace {

std::string LenencInt(uint64_t value) {
  std::string out;
  AppendLenencInt(out, value);
  return out;
}

TEST(WireTest, FixedWidthIntegersAreLittleEndian) {
  std::string out;
  AppendU8(out, 0x01);
  AppendU16(out, 0x0302);
  AppendU24(out, 0x060504);
  AppendU32(out, 0x0A090807);
  AppendU64(out, 0x1211100F0E0D0C0BULL);
  EXPECT_EQ(
      out,
      std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0A\x0B\x0C\x0D\x0E\x0F\x10\x11\x12", 18));
  PayloadReader reader(out);
  uint8_t u8 = 0;
  uint16_t u16 = 0;
  uint32_t u24 = 0;
  uint32_t u32 = 0;
  uint64_t u64 = 0;
  ASSERT_TRUE(reader.ReadU8(&u8));
  ASSERT_TRUE(reader.ReadU16(&u16));
  ASSERT_TRUE(reader.ReadU24(&u24));
  ASSERT_TRUE(reader.ReadU32(&u32));
  ASSERT_TRUE(reader.ReadU64(&u64));
  EXPECT_EQ(u8, 0x01);
  EXPECT_EQ(u16, 0x0302);
  EXPECT_EQ(u24, 0x060504u);
  EXPECT_EQ(u32, 0x0A090807u);
  EXPECT_EQ(u64, 0x1211100F0E0D0C0BULL);
  EXPECT_TRUE(reader.empty());
}

TEST(WireTest, LengthEncodedIntegersTakeTheWidthOfTheirRange) {
  EXPECT_EQ(LenencInt(0), std::string(1, '\0'));
  EXPECT_EQ(LenencInt(250), "\xFA");
  EXPECT_EQ(LenencInt(251), std::string("\xFC\xFB\x00", 3));
  EXPECT_EQ(LenencInt(0xFFFF), "\xFC\xFF\xFF");
  EXPECT_EQ(LenencInt(0x10000), std::string("\xFD\x00\x00\x01", 4));
  EXPECT_EQ(LenencInt(0xFFFFFF), "\xFD\xFF\xFF\xFF");
  EXPECT_EQ(LenencInt(0x1000000), std::string("\xFE\x00\x00\x00\x01\x00\x00\x00\x00", 9));
  EXPECT_EQ(LenencInt(UINT64_MAX), "\xFE\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF");
}

TEST(WireTest, LengthEncodedIntegersRoundTripAtEachWidthBoundary) {
  for (const uint64_t value :
       {uint64_t{0}, uint64_t{1}, uint64_t{250}, uint64_t{251}, uint64_t{252}, uint64_t{0xFFFF},
        uint64_t{0x10000}, uint64_t{0xFFFFFF}, uint64_t{0x1000000}, uint64_t{0xFFFFFFFF},
        uint64_t{0x100000000}, UINT64_MAX}) {
    const std::string encoded = LenencInt(value) + "tail";
    PayloadReader reader(encoded);
    uint64_t decoded = 0;
    ASSERT_TRUE(reader.ReadLenencInt(&decoded)) << value;
    EXPECT_EQ(decoded, value);
    EXPECT_EQ(reader.ReadRest(), "tail") << value;
  }
}

TEST(WireTest, TheNullAndErrorMarkersAreNotIntegers) {
  for (const std::string_view marker : {std::string_view("\xFB\x01\x02\x03\x04\x05\x06\x07\x08"),
                                        std::string_view("\xFF\x01\x02\x03\x04\x05\x06\x07\x08")}) {
    PayloadReader reader(marker);
    uint64_t value = 7;
    EXPECT_FALSE(reader.ReadLenencInt(&value));
    EXPECT_EQ(value, 7u);
    EXPECT_EQ(reader.remaining(), marker.size());
  }
}

TEST(WireTest, AShortLengthEncodedIntegerIsRefusedWithoutMoving) {
  for (const std::string_view truncated :
       {std::string_view(), std::string_view("\xFC\x01"), std::string_view("\xFD\x01\x02"),
        std::string_view("\xFE\x01\x02\x03\x04\x05\x06\x07")}) {
    PayloadReader reader(truncated);
    uint64_t value = 0;
    EXPECT_FALSE(reader.ReadLenencInt(&value)) << truncated.size();
    EXPECT_EQ(reader.remaining(), truncated.size());
  }
}

TEST(WireTest, AShortFixedWidthIntegerIsRefusedWithoutMoving) {
  PayloadReader reader(std::string_view("\x01\x02\x03", 3));
  uint32_t u32 = 0;
  uint64_t u64 = 0;
  EXPECT_FALSE(reader.ReadU32(&u32));
  EXPECT_FALSE(reader.ReadU64(&u64));
  EXPECT_EQ(reader.remaining(), 3u);
  uint32_t u24 = 0;
  EXPECT_TRUE(reader.ReadU24(&u24));
  EXPECT_EQ(u24, 0x030201u);
  uint8_t u8 = 0;
  EXPECT_FALSE(reader.ReadU8(&u8));
}

TEST(WireTest, LengthEncodedStringsRoundTripAcrossTheOneByteBoundary) {
  for (const size_t length : {size_t{0}, size_t{250}, size_t{251}, size_t{0x10000}}) {
    const std::string value(length, 'v');
    std::string out;
    AppendLenencString(out, value);
    AppendLenencString(out, "next");
    PayloadReader reader(out);
    std::string_view first;
    std::string_view second;
    ASSERT_TRUE(reader.ReadLenencString(&first)) << length;
    ASSERT_TRUE(reader.ReadLenencString(&second)) << length;
    EXPECT_EQ(first, value);
    EXPECT_EQ(second, "next");
    EXPECT_TRUE(reader.empty());
  }
}

TEST(WireTest, AStringLongerThanWhatIsLeftIsRefusedWithoutMoving) {
  const std::string_view input(
      "\x05"
      "abcd",
      5);
  PayloadReader reader(input);
  std::string_view value;
  EXPECT_FALSE(reader.ReadLenencString(&value));
  EXPECT_EQ(reader.remaining(), input.size());
  const std::string_view huge(
      "\xFE\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF"
      "abc",
      12);
  PayloadReader huge_reader(huge);
  EXPECT_FALSE(huge_reader.ReadLenencString(&value));
  EXPECT_EQ(huge_reader.remaining(), huge.size());
}

TEST(WireTest, NulStringsStopAtTheFirstNulAndConsumeIt) {
  std::string out;
  AppendNulString(out, "root");
  AppendNulString(out, "");
  out += "rest";
  PayloadReader reader(out);
  std::string_view user;
  std::string_view empty;
  ASSERT_TRUE(reader.ReadNulString(&user));
  ASSERT_TRUE(reader.ReadNulString(&empty));
  EXPECT_EQ(user, "root");
  EXPECT_EQ(empty, "");
  std::string_view unterminated;
  EXPECT_FALSE(reader.ReadNulString(&unterminated));
  EXPECT_EQ(reader.ReadRest(), "rest");
  EXPECT_TRUE(reader.empty());
}

TEST(WireTest, BytesAndSkipRefuseToPassTheEnd) {
  PayloadReader reader("abcdef");
  std::string_view bytes;
  EXPECT_FALSE(reader.ReadBytes(7, &bytes));
  EXPECT_FALSE(reader.Skip(7));
  EXPECT_EQ(reader.remaining(), 6u);
  ASSERT_TRUE(reader.Skip(2));
  ASSERT_TRUE(reader.ReadBytes(4, &bytes));
  EXPECT_EQ(bytes, "cdef");
  EXPECT_TRUE(reader.ReadBytes(0, &bytes));
  EXPECT_TRUE(reader.empty());
}

}  // namespace
}  // namespace trellis::proto::mysql
