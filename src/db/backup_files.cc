#include "db/backup_files.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "base/file.h"
#include "db/file_compression.h"

namespace trellis::db {
namespace {

constexpr const char* kErasFile = "eras.json";

base::Result<nlohmann::json> ReadJson(const std::filesystem::path& path) {
  TRELLIS_TRY(const std::string text, base::ReadFile(path));
  nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded()) {
    return base::InvalidArgument(path.string() + ": not JSON");
  }
  return json;
}

}  // namespace

base::Result<std::vector<BackupRecord>> ReadBackups(const std::filesystem::path& backups) {
  std::vector<BackupRecord> records;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(backups, error)) {
    const std::filesystem::path record_file = entry.path() / kBackupRecordFile;
    if (!entry.is_directory() || !std::filesystem::exists(record_file)) {
      continue;
    }
    TRELLIS_TRY(const nlohmann::json json, ReadJson(record_file));
    auto record = ParseBackupRecord(json);
    if (!record) {
      return base::WithContext(record_file.string(), record.error());
    }
    records.push_back(std::move(record).value());
  }
  if (error && error != std::errc::no_such_file_or_directory) {
    return base::InvalidArgument(backups.string() + ": " + error.message());
  }
  std::sort(records.begin(), records.end(), [](const BackupRecord& a, const BackupRecord& b) {
    return a.started_at != b.started_at ? a.started_at < b.started_at : a.name < b.name;
  });
  return records;
}

base::Status WriteBackupRecord(const std::filesystem::path& backups, const BackupRecord& record) {
  return base::ReplaceFile(backups / record.name / kBackupRecordFile, ToJson(record).dump(2));
}

base::Result<std::vector<ArchiveEra>> ReadEras(const std::filesystem::path& backups) {
  const std::filesystem::path path = backups / kArchiveDir / kErasFile;
  if (!std::filesystem::exists(path)) {
    return std::vector<ArchiveEra>();
  }
  TRELLIS_TRY(const nlohmann::json json, ReadJson(path));
  auto eras = ParseArchiveEras(json);
  if (!eras) {
    return base::WithContext(path.string(), eras.error());
  }
  return eras;
}

base::Status WriteEras(const std::filesystem::path& backups, const std::vector<ArchiveEra>& eras) {
  const std::filesystem::path dir = backups / kArchiveDir;
  std::error_code made;
  std::filesystem::create_directories(dir, made);
  if (made) {
    return base::InvalidArgument(dir.string() + ": " + made.message());
  }
  return base::ReplaceFile(dir / kErasFile, ToJson(eras).dump(2));
}

std::filesystem::path EraPath(const std::filesystem::path& backups, const ArchiveEra& era) {
  return backups / kArchiveDir / era.dir;
}

std::vector<std::filesystem::path> EraFiles(const std::filesystem::path& era_dir) {
  std::vector<std::filesystem::path> files;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(era_dir, error)) {
    const std::string extension = entry.path().extension().string();
    if (!entry.is_regular_file() || extension == ".index" || extension == ".partial") {
      continue;
    }
    if (extension != kCompressedSuffix &&
        std::filesystem::exists(entry.path().string() + kCompressedSuffix)) {
      continue;  // Copied again: the compressed one is whole.
    }
    files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

base::Status CompressClosedFiles(const std::filesystem::path& backups) {
  TRELLIS_TRY(const std::vector<ArchiveEra> eras, ReadEras(backups));
  for (size_t i = 0; i < eras.size(); ++i) {
    std::vector<std::filesystem::path> files = EraFiles(EraPath(backups, eras[i]));
    if (i + 1 == eras.size() && !files.empty()) {
      files.pop_back();  // Being copied.
    }
    for (const std::filesystem::path& file : files) {
      if (file.extension() == kCompressedSuffix) {
        continue;
      }
      const std::filesystem::path compressed = file.string() + kCompressedSuffix;
      TRELLIS_TRY_STATUS(CompressFile(file, compressed));
      TRELLIS_TRY_STATUS(base::RemoveFile(file));
    }
    // Copies made again of files compressed before (were one still being written, the
    // copying goes on into the removed file harmlessly).
    std::error_code error;
    for (const auto& entry :
         std::filesystem::directory_iterator(EraPath(backups, eras[i]), error)) {
      if (entry.path().extension() != kCompressedSuffix &&
          std::filesystem::exists(entry.path().string() + kCompressedSuffix)) {
        TRELLIS_TRY_STATUS(base::RemoveFile(entry.path()));
      }
    }
  }
  return {};
}

base::Result<ArchiveTip> ReadArchiveTip(const std::filesystem::path& backups) {
  TRELLIS_TRY(const std::vector<ArchiveEra> eras, ReadEras(backups));
  ArchiveTip tip;
  if (eras.empty()) {
    return tip;
  }
  tip.era = eras.back();
  const std::vector<std::filesystem::path> files = EraFiles(EraPath(backups, tip.era));
  if (!files.empty()) {
    std::error_code error;
    tip.file = files.back().filename().string();
    tip.bytes = std::filesystem::file_size(files.back(), error);
  }
  return tip;
}

}  // namespace trellis::db
