// The files of CDB's backup directory (backup_catalog.h): reading and writing the
// records and the archive's eras, and listing an era's binary log files.
//
// Thread safety: functions over the file system. The archive's eras are written by the
// manager's thread only (binlog_archiver.h); everything else reads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "base/result.h"
#include "db/backup_catalog.h"

namespace trellis::db {

inline constexpr const char* kBackupRecordFile = "backup.json";
inline constexpr const char* kArchiveDir = "binlog";

// Every finished backup under `backups`, in the order they started. A directory without
// a record (an unfinished backup) is skipped; a record that does not parse is an error.
base::Result<std::vector<BackupRecord>> ReadBackups(const std::filesystem::path& backups);
// Writes `record` into its backup's directory, durably: the backup is finished.
base::Status WriteBackupRecord(const std::filesystem::path& backups, const BackupRecord& record);

// The archive's eras (none before the first primary was archived).
base::Result<std::vector<ArchiveEra>> ReadEras(const std::filesystem::path& backups);
base::Status WriteEras(const std::filesystem::path& backups, const std::vector<ArchiveEra>& eras);
std::filesystem::path EraPath(const std::filesystem::path& backups, const ArchiveEra& era);
// The binary log files of an era's directory, by name (so in the order written), each
// either as copied or compressed (".zst"); none when it does not exist.
std::vector<std::filesystem::path> EraFiles(const std::filesystem::path& era_dir);

// Compresses each binary log file of the archive that is complete: every one but the
// newest of the last era (which is being copied). A file copied again after it was
// compressed (the copying started over) is removed: the compressed one is whole.
base::Status CompressClosedFiles(const std::filesystem::path& backups);

// Where the archive's copying is: its last era's newest file and that file's size.
struct ArchiveTip {
  ArchiveEra era;
  std::string file;  // "" before anything was copied.
  uint64_t bytes = 0;
};
base::Result<ArchiveTip> ReadArchiveTip(const std::filesystem::path& backups);

}  // namespace trellis::db
