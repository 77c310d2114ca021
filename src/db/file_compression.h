// Whole files compressed with zstd and back, streaming (a binary log file is up to
// max_binlog_size, 1 GiB, and is never held in memory whole): what the backup directory's
// archive does to each binary log file once its primary has moved on to the next
// (backup_catalog.h). The compressed file is written beside the target and renamed over
// it once complete and synced, so a crash leaves the old file or the new one, never half
// of one.
//
// Thread safety: functions over the file system.
#pragma once

#include <filesystem>

#include "base/result.h"

namespace trellis::db {

inline constexpr const char* kCompressedSuffix = ".zst";

// Writes `from` compressed to `to` (zstd level 3).
base::Status CompressFile(const std::filesystem::path& from, const std::filesystem::path& to);
// Writes `from`, a file CompressFile wrote, decompressed to `to`. Errors: a file that is
// not zstd's, or that ends short.
base::Status DecompressFile(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace trellis::db
