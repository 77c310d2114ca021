// The archive's block container: what is written reads back; a torn tail asks for more; a
// flipped byte anywhere is caught.
#include "backup/archive_file.h"

#include <gtest/gtest.h>

namespace trellis::backup {
namespace {

TEST(ArchiveFileTest, BlocksReadBackAsWritten) {
  const ArchiveHeader header{FileKind::kDump, "g1", 0x1234, 0, 1796357127853};
  const ArchiveEnd end{42, 7, 1796357128};
  const std::vector<std::string> keys = {"a", std::string{'b', '\0', 'c'}, "key with space"};
  std::string file;
  AppendBlock(BlockType::kHeader, EncodeHeader(header), 3, &file);
  AppendBlock(BlockType::kRecords, std::string(10000, 'x'), 3, &file);
  AppendBlock(BlockType::kIndex, EncodeIndex(keys), 3, &file);
  AppendBlock(BlockType::kEnd, EncodeEnd(end), 3, &file);
  EXPECT_LT(file.size(), 1000u) << "the payloads are compressed";

  std::string_view input = file;
  Block block;
  size_t consumed = 0;
  ASSERT_EQ(ParseBlock(input, &block, &consumed), BlockStatus::kOk);
  ArchiveHeader read_header;
  ASSERT_TRUE(DecodeHeader(block.raw, &read_header));
  EXPECT_EQ(read_header, header);
  input.remove_prefix(consumed);
  ASSERT_EQ(ParseBlock(input, &block, &consumed), BlockStatus::kOk);
  EXPECT_EQ(block.type, BlockType::kRecords);
  EXPECT_EQ(block.raw, std::string(10000, 'x'));
  input.remove_prefix(consumed);
  ASSERT_EQ(ParseBlock(input, &block, &consumed), BlockStatus::kOk);
  std::vector<std::string> read_keys;
  ASSERT_TRUE(DecodeIndex(block.raw, &read_keys));
  EXPECT_EQ(read_keys, keys);
  input.remove_prefix(consumed);
  ASSERT_EQ(ParseBlock(input, &block, &consumed), BlockStatus::kOk);
  ArchiveEnd read_end;
  ASSERT_TRUE(DecodeEnd(block.raw, &read_end));
  EXPECT_EQ(read_end, end);
  EXPECT_EQ(consumed, input.size());
}

TEST(ArchiveFileTest, ATornTailAsksForMoreAndAFlippedByteIsBad) {
  std::string file;
  AppendBlock(BlockType::kRecords, "some records", 3, &file);
  Block block;
  size_t consumed = 0;
  for (size_t length = 0; length < file.size(); ++length) {
    EXPECT_EQ(ParseBlock(std::string_view(file).substr(0, length), &block, &consumed),
              BlockStatus::kNeedMore)
        << "cut at " << length;
  }
  for (size_t at = 0; at < file.size(); ++at) {
    std::string flipped = file;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x40);
    const BlockStatus status = ParseBlock(flipped, &block, &consumed);
    // A flipped length may make the block look longer than the input: never kOk.
    EXPECT_NE(status, BlockStatus::kOk) << "byte " << at;
  }
}

TEST(ArchiveFileTest, MalformedPayloadsAreRefused) {
  ArchiveHeader header;
  EXPECT_FALSE(DecodeHeader("", &header));
  EXPECT_FALSE(DecodeHeader(EncodeHeader({}) + "x", &header));
  ArchiveEnd end;
  EXPECT_FALSE(DecodeEnd(EncodeEnd({}).substr(1), &end));
  std::vector<std::string> keys;
  EXPECT_FALSE(DecodeIndex(std::string{'\x05', '\0', 'a', 'b'}, &keys));
}

}  // namespace
}  // namespace trellis::backup
