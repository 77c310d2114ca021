#include "block/piece_store.h"

#include <gtest/gtest.h>

#include <fstream>

#include "testing/temp_dir.h"

namespace trellis::block {
namespace {

using proto::block::Op;
using proto::block::RequestHeader;
using Status = PieceStore::Status;

RequestHeader Range(uint64_t offset, uint32_t length, uint64_t generation = 1) {
  RequestHeader header;
  header.block_size = 4096;
  header.volume = 3;
  header.chunk = 2;
  header.offset = offset;
  header.length = length;
  header.generation = generation;
  return header;
}

std::string Pattern(char c, size_t size) { return std::string(size, c); }

TEST(PieceStoreTest, Crc32cIsCastagnolis) { EXPECT_EQ(Crc32c("123456789"), 0xE3069283u); }

TEST(PieceStoreTest, WrittenBlocksReadBackAndOthersReadAsZeroes) {
  testing::TempDir dir;
  auto store = PieceStore::Open(dir.path()).value();
  std::string data;
  EXPECT_EQ(store->Read(Range(0, 8192), &data), Status::kOk);  // No piece yet.
  EXPECT_EQ(data, std::string(8192, '\0'));
  ASSERT_EQ(store->Write(Range(4096, 8192), Pattern('a', 4096) + Pattern('b', 4096)), Status::kOk);
  EXPECT_EQ(store->Read(Range(0, 16384), &data), Status::kOk);
  EXPECT_EQ(data, std::string(4096, '\0') + Pattern('a', 4096) + Pattern('b', 4096) +
                      std::string(4096, '\0'));
  ASSERT_EQ(store->Zero(Range(4096, 4096)), Status::kOk);
  EXPECT_EQ(store->Read(Range(4096, 8192), &data), Status::kOk);
  EXPECT_EQ(data, std::string(4096, '\0') + Pattern('b', 4096));
  EXPECT_EQ(store->Flush(), Status::kOk);
  EXPECT_EQ(store->usage().pieces, 1u);
}

TEST(PieceStoreTest, MisalignedAndOversizedRequestsAreInvalid) {
  testing::TempDir dir;
  auto store = PieceStore::Open(dir.path()).value();
  std::string data;
  EXPECT_EQ(store->Read(Range(100, 4096), &data), Status::kInvalid);
  EXPECT_EQ(store->Write(Range(0, 4096), Pattern('a', 100)), Status::kInvalid);
  EXPECT_EQ(store->Read(Range(PieceStore::kMaxPieceBytes, 4096), &data), Status::kInvalid);
  RequestHeader odd = Range(0, 3000);
  odd.block_size = 3000;
  EXPECT_EQ(store->Write(odd, Pattern('a', 3000)), Status::kInvalid);
}

TEST(PieceStoreTest, AFlippedByteIsCaughtAndRepairMendsOnlyBadBlocks) {
  testing::TempDir dir;
  {
    auto store = PieceStore::Open(dir.path()).value();
    ASSERT_EQ(store->Write(Range(0, 8192), Pattern('a', 4096) + Pattern('b', 4096)), Status::kOk);
    ASSERT_EQ(store->Flush(), Status::kOk);
  }
  {
    std::fstream file(dir.path() / "pieces" / "3" / "2",
                      std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(4096 + 17);
    file.put('X');
  }
  auto store = PieceStore::Open(dir.path()).value();
  std::string data;
  EXPECT_EQ(store->Read(Range(0, 4096), &data), Status::kOk);  // The good block.
  EXPECT_EQ(store->Read(Range(0, 8192), &data), Status::kCorrupt);
  size_t repaired = 0;
  // The first block is good here, so the 'z's sent for it must not land.
  ASSERT_EQ(store->Repair(Range(0, 8192), Pattern('z', 4096) + Pattern('b', 4096), &repaired),
            Status::kOk);
  EXPECT_EQ(repaired, 1u);
  EXPECT_EQ(store->Read(Range(0, 8192), &data), Status::kOk);
  EXPECT_EQ(data, Pattern('a', 4096) + Pattern('b', 4096));
}

TEST(PieceStoreTest, AnOlderWriterIsFencedAcrossARestart) {
  testing::TempDir dir;
  {
    auto store = PieceStore::Open(dir.path()).value();
    ASSERT_EQ(store->Write(Range(0, 4096, 2), Pattern('a', 4096)), Status::kOk);
    ASSERT_EQ(store->Fence(3, 5), Status::kOk);
    EXPECT_EQ(store->Write(Range(0, 4096, 4), Pattern('b', 4096)), Status::kStale);
  }
  auto store = PieceStore::Open(dir.path()).value();
  EXPECT_EQ(store->Write(Range(0, 4096, 4), Pattern('b', 4096)), Status::kStale);
  EXPECT_EQ(store->Zero(Range(0, 4096, 3)), Status::kStale);
  EXPECT_EQ(store->Write(Range(0, 4096, 5), Pattern('c', 4096)), Status::kOk);
  std::string data;
  EXPECT_EQ(store->Read(Range(0, 4096), &data), Status::kOk);
  EXPECT_EQ(data, Pattern('c', 4096));
}

}  // namespace
}  // namespace trellis::block
