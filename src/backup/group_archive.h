// GroupArchive: one group's directory in the backup center (docs/backup.md): the segment
// being written, the sealed segments and the dumps, and where the group's stream stands.
//
// Writing: the stream's records go to the open segment (Append), which Flush writes as
// one block and fdatasyncs: a record is archived once Flush returned; the position to
// resume from is the last flushed record's, read back from the files after a restart
// (a block torn by a crash is cut off; nothing after the last synced block was
// promised). A segment is sealed (index and end block) once it spans the segment length,
// or when the stream moves to another log (a snapshot, or a log that continues this one). A
// snapshot of the main's store (the stream's start, or after the main's log no longer held the
// position: a gap) becomes a dump. New files are synced with their directory.
//
// Reading (Scan): every file's blocks in order, checked; a corrupt block is an error
// naming the file and offset.
//
// Thread safety: none; the backup center's thread for this group.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backup/archive_file.h"
#include "base/result.h"
#include "cache/mutation.h"

namespace trellis::backup {

// One file of a group's archive, as its name and blocks say.
struct ArchiveFileInfo {
  std::filesystem::path path;
  ArchiveHeader header;
  std::optional<ArchiveEnd> end;  // Unset: an open segment, or a dump that never ended.
  uint64_t bytes = 0;
  std::string error;  // Why the file does not read ("" if it does).
};

// One file being written: blocks appended and synced (fdatasync) one write at a time.
class ArchiveFileWriter {
 public:
  // Creates the file for `header` in `dir` with its header block, synced with `dir`.
  static base::Result<std::unique_ptr<ArchiveFileWriter>> Create(const std::filesystem::path& dir,
                                                                 const ArchiveHeader& header,
                                                                 int compression_level);
  // Appends to an existing file (its torn tail already cut off).
  static base::Result<std::unique_ptr<ArchiveFileWriter>> Reopen(const std::filesystem::path& path,
                                                                 const ArchiveHeader& header,
                                                                 int compression_level);
  ~ArchiveFileWriter();

  // Appends `blocks` (type and raw payload each) in one write, then syncs.
  base::Status Write(const std::vector<std::pair<BlockType, std::string_view>>& blocks);
  const std::filesystem::path& path() const { return path_; }
  const ArchiveHeader& header() const { return header_; }
  uint64_t bytes_written() const { return bytes_written_; }

 private:
  ArchiveFileWriter(std::filesystem::path path, ArchiveHeader header, int fd, int level);
  const std::filesystem::path path_;
  const ArchiveHeader header_;
  const int fd_;
  const int level_;
  uint64_t bytes_written_ = 0;
};

// A dump being written: a group's items as a snapshot of its main's store sends them.
// Destroyed before Finish, it removes its file (a dump that never ended is no dump).
class DumpWriter {
 public:
  static base::Result<std::unique_ptr<DumpWriter>> Create(const std::filesystem::path& dir,
                                                          const std::string& group, uint64_t log_id,
                                                          int level);
  ~DumpWriter();
  base::Status Add(const cache::MutationRecord& item);
  // `after`: the log position the snapshot was taken from.
  base::Status Finish(uint64_t after);
  uint64_t bytes_written() const { return file_->bytes_written(); }

 private:
  explicit DumpWriter(std::unique_ptr<ArchiveFileWriter> file) : file_(std::move(file)) {}
  std::unique_ptr<ArchiveFileWriter> file_;
  std::string pending_;
  uint64_t items_ = 0;
  bool finished_ = false;
};

class GroupArchive {
 public:
  struct Options {
    std::chrono::seconds segment_length{300};
    int compression_level = 3;
  };

  // Opens (creating) `dir`, cutting a torn tail off the open segment.
  static base::Result<std::unique_ptr<GroupArchive>> Open(std::filesystem::path dir,
                                                          std::string group, Options options);
  ~GroupArchive();

  // The stream's log and the last sequence archived in it; nullopt before any dump.
  struct Position {
    uint64_t log_id = 0;
    uint64_t sequence = 0;
  };
  std::optional<Position> position() const { return position_; }

  // The stream's snapshot of log `log_id` begins (the stream's start, or a gap): its
  // items follow (AddDumpItem), then FinishDump with the log position it was taken from;
  // the stream goes on from there.
  base::Status BeginDump(uint64_t log_id);
  base::Status AddDumpItem(const cache::MutationRecord& item);
  base::Status FinishDump(uint64_t after);
  // A dump taken beside the stream (periodic dumps, on a connection of their own).
  base::Result<std::unique_ptr<DumpWriter>> NewDump(uint64_t log_id) const;

  // The stream's log continues as `log_id` (its main was promoted from a backup of the
  // log archived until now): the open segment is sealed, the next one names both logs.
  base::Status ContinueAs(uint64_t log_id);
  // Every record the main stamped at or before `second` was appended (a heartbeat said
  // so): the next segment's header records it.
  void MarkComplete(uint32_t second) { complete_until_ = second; }
  // A record of the stream (in the position's log, after it). Records at or before the
  // position are dropped (a stream resumed from a position may repeat some).
  base::Status Append(const cache::MutationRecord& record);
  // Writes what Append buffered and syncs it; seals the open segment if its time is up.
  base::Status Flush();
  // Whether Append buffered records that Flush has not written yet.
  bool has_pending() const { return !pending_.empty(); }
  uint64_t bytes_written() const { return bytes_written_; }
  void CountBytes(uint64_t bytes) { bytes_written_ += bytes; }

  // Every file of the archive in `dir`, in the order they were made; a file that does not
  // read (corrupt, no header) is listed with its error.
  static base::Result<std::vector<ArchiveFileInfo>> List(const std::filesystem::path& dir);
  // Calls `on_record` for each record of `file` in order (dump items have sequence 0);
  // its key and value are valid during the call only.
  // Errors: a corrupt or torn block ("FILE: corrupt block at offset N").
  static base::Status Scan(const std::filesystem::path& file,
                           const std::function<void(const cache::MutationRecord&)>& on_record);

 private:
  GroupArchive(std::filesystem::path dir, std::string group, Options options);
  base::Status SealSegment();

  const std::filesystem::path dir_;
  const std::string group_;
  const Options options_;
  std::optional<Position> position_;
  std::unique_ptr<ArchiveFileWriter> segment_;  // The open segment, if any.
  uint64_t continues_ = 0;       // The log the next segment continues (ContinueAs), or 0.
  uint32_t complete_until_ = 0;  // MarkComplete's.
  std::unique_ptr<DumpWriter> stream_dump_;  // The stream's snapshot being written.
  uint64_t stream_dump_log_ = 0;
  std::chrono::steady_clock::time_point segment_opened_{};
  uint64_t segment_records_ = 0;
  uint32_t segment_last_time_ = 0;
  std::vector<std::string> segment_keys_;  // Keys the open segment changed (its index).
  std::string pending_;                    // Records not yet written, as frames.
  uint64_t bytes_written_ = 0;
};

}  // namespace trellis::backup
