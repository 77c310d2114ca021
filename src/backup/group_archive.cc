#include "backup/group_archive.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/clock.h"
#include "base/file.h"
#include "cache/replication_wire.h"

namespace trellis::backup {

namespace fs = std::filesystem;

namespace {

// Records a block holds at most before Append writes it out (a dump's items come faster
// than a second's Flush).
constexpr size_t kBlockBytes = 1 << 20;

using base::ReadFile;
using base::SyncDirectory;
using base::SystemError;

// The file name: creation time first, so that names sort in the order files were made.
std::string FileName(const ArchiveHeader& header) {
  char name[96];
  std::snprintf(name, sizeof(name), "%015llu-%c-%016llx-%020llu.tarc",
                static_cast<unsigned long long>(header.created_ms), static_cast<char>(header.kind),
                static_cast<unsigned long long>(header.log_id),
                static_cast<unsigned long long>(header.after));
  return name;
}

// What a file's name says of it, for a file whose header does not read.
ArchiveHeader HeaderFromName(const std::string& name) {
  ArchiveHeader header;
  unsigned long long created = 0;
  unsigned long long log_id = 0;
  unsigned long long after = 0;
  char kind = 'S';
  if (std::sscanf(name.c_str(), "%llu-%c-%llx-%llu.tarc", &created, &kind, &log_id, &after) == 4) {
    header = {kind == 'D' ? FileKind::kDump : FileKind::kSegment, "", log_id, after, created};
  }
  return header;
}

// The blocks of `bytes` (a file of `path`): header, records, index, end. `torn_at`: where
// an unfinished last block starts (nullopt when the file ends on a block).
struct ParsedFile {
  ArchiveHeader header;
  std::optional<ArchiveEnd> end;
  std::vector<Block> records;
  std::optional<size_t> torn_at;
};

base::Result<ParsedFile> ParseFile(const fs::path& path, std::string_view bytes) {
  ParsedFile file;
  size_t at = 0;
  bool first = true;
  while (at < bytes.size()) {
    Block block;
    size_t consumed = 0;
    const BlockStatus status = ParseBlock(bytes.substr(at), &block, &consumed);
    if (status == BlockStatus::kNeedMore) {
      file.torn_at = at;
      break;
    }
    if (status == BlockStatus::kBad) {
      return base::Error{path.string() + ": corrupt block at offset " + std::to_string(at)};
    }
    if (first != (block.type == BlockType::kHeader)) {
      return base::Error{path.string() + ": misplaced block at offset " + std::to_string(at)};
    }
    first = false;
    if (block.type == BlockType::kHeader && !DecodeHeader(block.raw, &file.header)) {
      return base::Error{path.string() + ": bad header"};
    }
    if (block.type == BlockType::kEnd && !DecodeEnd(block.raw, &file.end.emplace())) {
      return base::Error{path.string() + ": bad end block at offset " + std::to_string(at)};
    }
    if (block.type == BlockType::kRecords) {
      file.records.push_back(std::move(block));
    }
    at += consumed;
  }
  if (first) {
    return base::Error{path.string() + ": no header"};
  }
  return file;
}

}  // namespace

ArchiveFileWriter::ArchiveFileWriter(fs::path path, ArchiveHeader header, int fd, int level)
    : path_(std::move(path)), header_(std::move(header)), fd_(fd), level_(level) {}

ArchiveFileWriter::~ArchiveFileWriter() { ::close(fd_); }

base::Result<std::unique_ptr<ArchiveFileWriter>> ArchiveFileWriter::Create(
    const fs::path& dir, const ArchiveHeader& header, int compression_level) {
  const fs::path path = dir / FileName(header);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    return SystemError(path.string());
  }
  std::unique_ptr<ArchiveFileWriter> file(
      new ArchiveFileWriter(path, header, fd, compression_level));
  const std::string raw = EncodeHeader(header);
  base::Status created = file->Write({{BlockType::kHeader, raw}});
  if (created) {
    created = SyncDirectory(dir);
  }
  if (!created) {
    ::unlink(path.c_str());  // No file without its header (a full disk).
    return created.error();
  }
  return file;
}

base::Result<std::unique_ptr<ArchiveFileWriter>> ArchiveFileWriter::Reopen(
    const fs::path& path, const ArchiveHeader& header, int compression_level) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) {
    return SystemError(path.string());
  }
  return std::unique_ptr<ArchiveFileWriter>(
      new ArchiveFileWriter(path, header, fd, compression_level));
}

base::Status ArchiveFileWriter::Write(
    const std::vector<std::pair<BlockType, std::string_view>>& blocks) {
  std::string bytes;
  for (const auto& [type, raw] : blocks) {
    AppendBlock(type, raw, level_, &bytes);
  }
  // A write that fails (the disk is full) leaves the file as it was: no torn block in
  // the middle of it, and no block whose sync failed (its pages may be dropped).
  const off_t size_before = ::lseek(fd_, 0, SEEK_END);
  auto fail = [&](const char* what) {
    base::Error error = SystemError(path_.string() + ": " + what);
    if (size_before >= 0 && ::ftruncate(fd_, size_before) != 0) {
      spdlog::error("{}: cannot cut a failed write off: {}", path_.string(), std::strerror(errno));
    }
    return error;
  };
  if (!base::WriteAll(fd_, bytes)) {
    return fail("writing");
  }
  if (::fdatasync(fd_) != 0) {
    return fail("syncing");
  }
  bytes_written_ += bytes.size();
  return {};
}

base::Result<std::unique_ptr<DumpWriter>> DumpWriter::Create(const fs::path& dir,
                                                             const std::string& group,
                                                             uint64_t log_id, int level) {
  TRELLIS_TRY(auto file,
              ArchiveFileWriter::Create(
                  dir, {FileKind::kDump, group, log_id, 0, base::UnixMilliseconds()}, level));
  return std::unique_ptr<DumpWriter>(new DumpWriter(std::move(file)));
}

DumpWriter::~DumpWriter() {
  if (!finished_) {
    std::error_code error;
    fs::remove(file_->path(), error);
  }
}

base::Status DumpWriter::Add(const cache::MutationRecord& item) {
  cache::AppendRecordFrame(item, &pending_);
  ++items_;
  if (pending_.size() < kBlockBytes) {
    return {};
  }
  base::Status written = file_->Write({{BlockType::kRecords, pending_}});
  pending_.clear();
  return written;
}

base::Status DumpWriter::Finish(uint64_t after) {
  const std::string end = EncodeEnd({after, items_, base::CoarseUnixSeconds()});
  std::vector<std::pair<BlockType, std::string_view>> blocks;
  if (!pending_.empty()) {
    blocks.emplace_back(BlockType::kRecords, pending_);
  }
  blocks.emplace_back(BlockType::kEnd, end);
  TRELLIS_TRY_STATUS(file_->Write(blocks));
  pending_.clear();
  finished_ = true;
  return {};
}

GroupArchive::GroupArchive(fs::path dir, std::string group, Options options)
    : dir_(std::move(dir)), group_(std::move(group)), options_(options) {}

GroupArchive::~GroupArchive() = default;

base::Result<std::unique_ptr<GroupArchive>> GroupArchive::Open(fs::path dir, std::string group,
                                                               Options options) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) {
    return base::Error{dir.string() + ": " + error.message()};
  }
  std::unique_ptr<GroupArchive> archive(new GroupArchive(dir, std::move(group), options));
  TRELLIS_TRY(auto files, List(dir));
  // The newest file the stream wrote says where it stands: a dump that never ended is
  // no dump (the stream asks for a new one); an open segment is reopened.
  while (!files.empty() && files.back().error.empty() &&
         files.back().header.kind == FileKind::kDump && !files.back().end) {
    spdlog::warn("{}: an unfinished dump, removed", files.back().path.string());
    fs::remove(files.back().path, error);
    files.pop_back();
  }
  if (files.empty()) {
    return archive;
  }
  const ArchiveFileInfo& newest = files.back();
  if (!newest.error.empty() && newest.bytes > 0) {
    // Not a torn tail (that is cut below): the stream starts afresh with a new dump.
    spdlog::error("{}", newest.error);
    return archive;
  }
  archive->position_ = Position{newest.header.log_id, newest.header.after};
  if (newest.end) {
    archive->position_->sequence = newest.end->last_sequence;
    return archive;
  }
  // The open segment: cut off a torn block, go on appending.
  TRELLIS_TRY(std::string bytes, ReadFile(newest.path));
  TRELLIS_TRY(ParsedFile parsed, ParseFile(newest.path, bytes));
  if (parsed.torn_at) {
    spdlog::warn("{}: a block torn at offset {} (written, never synced) is cut off",
                 newest.path.string(), *parsed.torn_at);
    if (::truncate(newest.path.c_str(), static_cast<off_t>(*parsed.torn_at)) != 0) {
      return SystemError(newest.path.string());
    }
  }
  TRELLIS_TRY(archive->segment_,
              ArchiveFileWriter::Reopen(newest.path, newest.header, options.compression_level));
  archive->segment_opened_ = std::chrono::steady_clock::now();
  TRELLIS_TRY_STATUS(Scan(newest.path, [&](const cache::MutationRecord& record) {
    archive->position_->sequence = record.sequence;
    archive->segment_last_time_ = std::max(archive->segment_last_time_, record.timestamp);
    archive->segment_keys_.emplace_back(record.key);
    ++archive->segment_records_;
  }));
  return archive;
}

base::Status GroupArchive::BeginDump(uint64_t log_id) {
  stream_dump_.reset();  // A snapshot cut short by a lost connection: it never ends.
  TRELLIS_TRY_STATUS(Flush());
  if (segment_) {
    TRELLIS_TRY_STATUS(SealSegment());
  }
  position_.reset();  // Until the dump is complete, there is nothing to go on from.
  continues_ = 0;
  TRELLIS_TRY(stream_dump_, NewDump(log_id));
  stream_dump_log_ = log_id;
  return {};
}

base::Status GroupArchive::AddDumpItem(const cache::MutationRecord& item) {
  if (!stream_dump_) {
    return base::Error{"a snapshot item outside a snapshot"};
  }
  return stream_dump_->Add(item);
}

base::Status GroupArchive::FinishDump(uint64_t after) {
  if (!stream_dump_) {
    return base::Error{"a snapshot end outside a snapshot"};
  }
  TRELLIS_TRY_STATUS(stream_dump_->Finish(after));
  bytes_written_ += stream_dump_->bytes_written();
  stream_dump_.reset();
  position_ = Position{stream_dump_log_, after};
  return {};
}

base::Result<std::unique_ptr<DumpWriter>> GroupArchive::NewDump(uint64_t log_id) const {
  return DumpWriter::Create(dir_, group_, log_id, options_.compression_level);
}

base::Status GroupArchive::ContinueAs(uint64_t log_id) {
  if (!position_ || position_->log_id == log_id) {
    return {};
  }
  TRELLIS_TRY_STATUS(Flush());
  if (segment_) {
    TRELLIS_TRY_STATUS(SealSegment());
  }
  continues_ = position_->log_id;
  position_->log_id = log_id;
  return {};
}

base::Status GroupArchive::Append(const cache::MutationRecord& record) {
  if (!position_ || record.sequence <= position_->sequence) {
    return {};
  }
  if (!segment_) {
    TRELLIS_TRY(segment_, ArchiveFileWriter::Create(
                              dir_,
                              {FileKind::kSegment, group_, position_->log_id, position_->sequence,
                               base::UnixMilliseconds(), continues_, complete_until_},
                              options_.compression_level));
    continues_ = 0;
    segment_opened_ = std::chrono::steady_clock::now();
    segment_records_ = 0;
    segment_last_time_ = 0;
  }
  cache::AppendRecordFrame(record, &pending_);
  position_->sequence = record.sequence;
  segment_last_time_ = std::max(segment_last_time_, record.timestamp);
  segment_keys_.emplace_back(record.key);
  ++segment_records_;
  return pending_.size() >= kBlockBytes ? Flush() : base::Status();
}

base::Status GroupArchive::Flush() {
  if (!pending_.empty() && segment_) {
    const uint64_t before = segment_->bytes_written();
    base::Status written = segment_->Write({{BlockType::kRecords, pending_}});
    bytes_written_ += segment_->bytes_written() - before;
    pending_.clear();
    TRELLIS_TRY_STATUS(written);
  }
  if (segment_ && std::chrono::steady_clock::now() - segment_opened_ >= options_.segment_length) {
    return SealSegment();
  }
  return {};
}

base::Status GroupArchive::SealSegment() {
  std::sort(segment_keys_.begin(), segment_keys_.end());
  segment_keys_.erase(std::unique(segment_keys_.begin(), segment_keys_.end()), segment_keys_.end());
  const std::string index = EncodeIndex(segment_keys_);
  const std::string end = EncodeEnd({position_ ? position_->sequence : segment_->header().after,
                                     segment_records_, segment_last_time_});
  const uint64_t before = segment_->bytes_written();
  TRELLIS_TRY_STATUS(segment_->Write({{BlockType::kIndex, index}, {BlockType::kEnd, end}}));
  bytes_written_ += segment_->bytes_written() - before;
  segment_.reset();
  segment_keys_.clear();
  return {};
}

base::Result<std::vector<ArchiveFileInfo>> GroupArchive::List(const fs::path& dir) {
  std::vector<ArchiveFileInfo> files;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    if (entry.path().extension() != ".tarc") {
      continue;
    }
    ArchiveFileInfo& info = files.emplace_back();
    info.path = entry.path();
    auto bytes = ReadFile(entry.path());
    auto parsed = bytes ? ParseFile(entry.path(), *bytes) : base::Result<ParsedFile>(bytes.error());
    info.bytes = bytes ? bytes->size() : 0;
    if (!parsed) {
      info.error = parsed.error().message;
      info.header = HeaderFromName(entry.path().filename().string());
      Block first;
      size_t consumed = 0;
      if (bytes && ParseBlock(*bytes, &first, &consumed) == BlockStatus::kOk &&
          first.type == BlockType::kHeader) {
        DecodeHeader(first.raw, &info.header);  // Its header still reads.
      }
      continue;
    }
    info.header = parsed->header;
    info.end = parsed->end;
  }
  if (error) {
    return base::Error{dir.string() + ": " + error.message()};
  }
  std::sort(files.begin(), files.end(), [](const ArchiveFileInfo& a, const ArchiveFileInfo& b) {
    return a.path.filename() < b.path.filename();
  });
  return files;
}

base::Status GroupArchive::Scan(
    const fs::path& file, const std::function<void(const cache::MutationRecord&)>& on_record) {
  TRELLIS_TRY(std::string bytes, ReadFile(file));
  TRELLIS_TRY(ParsedFile parsed, ParseFile(file, bytes));
  for (const Block& block : parsed.records) {
    std::string_view input = block.raw;
    while (!input.empty()) {
      cache::ReplicationFrame frame;
      size_t consumed = 0;
      if (cache::ParseReplicationFrame(input, &frame, &consumed) != cache::FrameStatus::kOk ||
          frame.type != 'R') {
        return base::Error{file.string() + ": a records block that does not parse"};
      }
      on_record(frame.record);
      input.remove_prefix(consumed);
    }
  }
  return {};
}

}  // namespace trellis::backup
