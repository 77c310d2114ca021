// The backup center's files (docs/backup.md, "Files"): segments of a group's mutation
// stream and dumps of a group's items share one container, a sequence of blocks:
//
//   magic:u32 "TBK1" | type:u8 | raw_len:u32 | stored_len:u32 | crc32c:u32 | payload
//
// integers little-endian; the payload is `stored_len` bytes, zstd-compressed to that
// from `raw_len` bytes; the CRC-32C covers the header's type and lengths and the stored
// payload, so a torn or flipped byte anywhere is caught. Block types:
//   'H' the file's header (ArchiveHeader), always first;
//   'R' records: replication 'R' frames (cache/replication_wire.h), in sequence order;
//   'I' a sealed segment's index: the distinct keys it changed, each u16 length + bytes;
//   'E' the end (ArchiveEnd): a dump is complete, a segment sealed. A file without it is
//       a segment still open, or a dump that never finished.
//
// Pure functions, no I/O; ParseBlock is fuzzed (tests/fuzz/archive_block_fuzz.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace trellis::backup {

enum class BlockType : char { kHeader = 'H', kRecords = 'R', kIndex = 'I', kEnd = 'E' };

enum class FileKind : char { kSegment = 'S', kDump = 'D' };

// Version 2 added `continues` and `complete_until`; version 1 headers read with them 0.
struct ArchiveHeader {
  static constexpr uint16_t kVersion = 2;
  FileKind kind = FileKind::kSegment;
  std::string group;
  uint64_t log_id = 0;  // The main's log the records come from.
  // Segment: its records follow this sequence. Dump: 0 (its end block says).
  uint64_t after = 0;
  uint64_t created_ms = 0;  // Unix ms.
  // Segment: the log that `log_id` continues from `after` on (a backup promoted to main
  // goes on with its old main's sequences: cache/replication_log.h); 0 if none.
  uint64_t continues = 0;
  // Segment: every record stamped at or before this second (unix s) is in earlier files
  // (the stream's last heartbeat before this file's first record said so); 0: unknown.
  // What a chain knows when this file is damaged.
  uint32_t complete_until = 0;

  bool operator==(const ArchiveHeader&) const = default;
};

struct ArchiveEnd {
  // Segment: its last record's (`after` if none). Dump: the log position its snapshot was
  // taken from (the records after it, replayed on the dump, give a consistent state).
  uint64_t last_sequence = 0;
  uint64_t records = 0;
  // Segment: the newest record's time (unix s, 0 if none). Dump: when its snapshot was
  // complete (unix s): the dump holds every key's state as of some moment before then.
  uint32_t last_time = 0;

  bool operator==(const ArchiveEnd&) const = default;
};

// Appends one block of `type` holding `raw` (compressed at `level`).
void AppendBlock(BlockType type, std::string_view raw, int level, std::string* out);

std::string EncodeHeader(const ArchiveHeader& header);
bool DecodeHeader(std::string_view raw, ArchiveHeader* header);
std::string EncodeEnd(const ArchiveEnd& end);
bool DecodeEnd(std::string_view raw, ArchiveEnd* end);
std::string EncodeIndex(const std::vector<std::string>& keys);
bool DecodeIndex(std::string_view raw, std::vector<std::string>* keys);

enum class BlockStatus {
  kOk,
  kNeedMore,  // `input` ends inside the block: a torn tail if the file ends there.
  kBad,       // Not a block: bad magic, type or length, a CRC mismatch, bad zstd data.
};

struct Block {
  BlockType type = BlockType::kRecords;
  std::string raw;  // The payload, uncompressed.
};

// Parses the block at the start of `input`; on kOk `*consumed` bytes made it.
BlockStatus ParseBlock(std::string_view input, Block* block, size_t* consumed);

}  // namespace trellis::backup
