// Whole files compressed and back (db/file_compression.h): what the backup archive does to
// each complete binary log file.
#include "db/file_compression.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "base/file.h"
#include "testing/temp_dir.h"

namespace trellis::db {
namespace {

using ::testing::HasSubstr;

TEST(FileCompressionTest, ComesBackByteForByteAndSmallerWhenItCan) {
  testing::TempDir dir;
  // 3 MiB: several of zstd's stream buffers; half repetitive, half random.
  std::string original;
  std::mt19937 random(7);
  for (int i = 0; i < 3 * 1024 * 1024; ++i) {
    original.push_back(i % 2 == 0 ? static_cast<char>('a' + i % 7)
                                  : static_cast<char>(random() & 0xFF));
  }
  std::ofstream(dir.path() / "binlog.000001", std::ios::binary) << original;
  ASSERT_TRUE(CompressFile(dir.path() / "binlog.000001", dir.path() / "binlog.000001.zst").ok());
  EXPECT_LT(std::filesystem::file_size(dir.path() / "binlog.000001.zst"), original.size());
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "binlog.000001.zst.partial"));
  ASSERT_TRUE(DecompressFile(dir.path() / "binlog.000001.zst", dir.path() / "back").ok());
  EXPECT_EQ(*base::ReadFile(dir.path() / "back"), original);
  // Empty files too.
  std::ofstream(dir.path() / "empty").close();
  ASSERT_TRUE(CompressFile(dir.path() / "empty", dir.path() / "empty.zst").ok());
  ASSERT_TRUE(DecompressFile(dir.path() / "empty.zst", dir.path() / "empty.back").ok());
  EXPECT_EQ(*base::ReadFile(dir.path() / "empty.back"), "");
}

TEST(FileCompressionTest, ATruncatedOrForeignFileIsRefusedAndLeavesNothing) {
  testing::TempDir dir;
  std::ofstream(dir.path() / "log", std::ios::binary) << std::string(1 << 20, 'x') << "end";
  ASSERT_TRUE(CompressFile(dir.path() / "log", dir.path() / "log.zst").ok());
  std::string compressed = *base::ReadFile(dir.path() / "log.zst");
  compressed.resize(compressed.size() - 4);
  std::ofstream(dir.path() / "short.zst", std::ios::binary) << compressed;
  const base::Status truncated = DecompressFile(dir.path() / "short.zst", dir.path() / "short");
  ASSERT_FALSE(truncated.ok());
  EXPECT_THAT(truncated.error().message, HasSubstr("ends in the middle"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "short"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "short.partial"));
  std::ofstream(dir.path() / "plain", std::ios::binary) << "not zstd at all";
  EXPECT_FALSE(DecompressFile(dir.path() / "plain", dir.path() / "plain.out").ok());
  EXPECT_FALSE(CompressFile(dir.path() / "missing", dir.path() / "missing.zst").ok());
}

}  // namespace
}  // namespace trellis::db
