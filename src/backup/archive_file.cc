#include "backup/archive_file.h"

#include <zstd.h>

#include <cstring>

#include <boost/crc.hpp>

#include "base/byte_order.h"

namespace trellis::backup {

namespace {

constexpr uint32_t kMagic = 0x314b4254;  // "TBK1" little-endian.
constexpr size_t kBlockHeaderBytes = 4 + 1 + 4 + 4 + 4;
// A block's payload at most, either way: what the writer makes is far smaller (a
// segment flushes every 1 MiB); more is a corrupt length, not a reason to allocate.
constexpr uint32_t kMaxBlockBytes = 64u << 20;

using Crc32c = boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true>;

// Reads a T at `*at` of `input`, moving `*at` on; false past the end.
template <typename T>
bool Get(std::string_view input, size_t* at, T* value) {
  if (*at > input.size() || input.size() - *at < sizeof(T)) {
    return false;
  }
  std::memcpy(value, input.data() + *at, sizeof(T));
  *at += sizeof(T);
  return true;
}

bool GetString(std::string_view input, size_t* at, std::string* value) {
  uint16_t length = 0;
  if (!Get(input, at, &length) || input.size() - *at < length) {
    return false;
  }
  value->assign(input.substr(*at, length));
  *at += length;
  return true;
}

uint32_t Checksum(std::string_view covered_header, std::string_view payload) {
  Crc32c crc;
  crc.process_bytes(covered_header.data(), covered_header.size());
  crc.process_bytes(payload.data(), payload.size());
  return crc.checksum();
}

bool KnownType(char type) {
  return type == static_cast<char>(BlockType::kHeader) ||
         type == static_cast<char>(BlockType::kRecords) ||
         type == static_cast<char>(BlockType::kIndex) || type == static_cast<char>(BlockType::kEnd);
}

}  // namespace

void AppendBlock(BlockType type, std::string_view raw, int level, std::string* out) {
  std::string stored(ZSTD_compressBound(raw.size()), '\0');
  const size_t stored_length =
      ZSTD_compress(stored.data(), stored.size(), raw.data(), raw.size(), level);
  stored.resize(ZSTD_isError(stored_length) ? 0 : stored_length);
  const size_t start = out->size();
  base::AppendLittle<uint32_t>(kMagic, out);
  out->push_back(static_cast<char>(type));
  base::AppendLittle<uint32_t>(static_cast<uint32_t>(raw.size()), out);
  base::AppendLittle<uint32_t>(static_cast<uint32_t>(stored.size()), out);
  const uint32_t crc = Checksum(std::string_view(*out).substr(start + 4, 9), stored);
  base::AppendLittle<uint32_t>(crc, out);
  out->append(stored);
}

BlockStatus ParseBlock(std::string_view input, Block* block, size_t* consumed) {
  if (input.size() < kBlockHeaderBytes) {
    return BlockStatus::kNeedMore;
  }
  size_t at = 0;
  uint32_t magic = 0;
  uint32_t raw_length = 0;
  uint32_t stored_length = 0;
  uint32_t crc = 0;
  Get(input, &at, &magic);
  const char type = input[at++];
  Get(input, &at, &raw_length);
  Get(input, &at, &stored_length);
  Get(input, &at, &crc);
  if (magic != kMagic || !KnownType(type) || raw_length > kMaxBlockBytes ||
      stored_length > kMaxBlockBytes) {
    return BlockStatus::kBad;
  }
  if (input.size() - at < stored_length) {
    return BlockStatus::kNeedMore;
  }
  const std::string_view stored = input.substr(at, stored_length);
  if (Checksum(input.substr(4, 9), stored) != crc) {
    return BlockStatus::kBad;
  }
  block->type = static_cast<BlockType>(type);
  block->raw.resize(raw_length);
  const size_t decompressed =
      ZSTD_decompress(block->raw.data(), block->raw.size(), stored.data(), stored.size());
  if (ZSTD_isError(decompressed) || decompressed != raw_length) {
    return BlockStatus::kBad;
  }
  *consumed = at + stored_length;
  return BlockStatus::kOk;
}

std::string EncodeHeader(const ArchiveHeader& header) {
  std::string out;
  base::AppendLittle<uint16_t>(ArchiveHeader::kVersion, &out);
  out.push_back(static_cast<char>(header.kind));
  base::AppendLittle<uint16_t>(static_cast<uint16_t>(header.group.size()), &out);
  out.append(header.group);
  base::AppendLittle<uint64_t>(header.log_id, &out);
  base::AppendLittle<uint64_t>(header.after, &out);
  base::AppendLittle<uint64_t>(header.created_ms, &out);
  base::AppendLittle<uint64_t>(header.continues, &out);
  base::AppendLittle<uint32_t>(header.complete_until, &out);
  return out;
}

bool DecodeHeader(std::string_view raw, ArchiveHeader* header) {
  size_t at = 0;
  uint16_t version = 0;
  char kind = 0;
  if (!Get(raw, &at, &version) || version < 1 || version > ArchiveHeader::kVersion ||
      !Get(raw, &at, &kind) ||
      (kind != static_cast<char>(FileKind::kSegment) &&
       kind != static_cast<char>(FileKind::kDump))) {
    return false;
  }
  header->kind = static_cast<FileKind>(kind);
  header->continues = 0;
  header->complete_until = 0;
  return GetString(raw, &at, &header->group) && Get(raw, &at, &header->log_id) &&
         Get(raw, &at, &header->after) && Get(raw, &at, &header->created_ms) &&
         (version < 2 ||
          (Get(raw, &at, &header->continues) && Get(raw, &at, &header->complete_until))) &&
         at == raw.size();
}

std::string EncodeEnd(const ArchiveEnd& end) {
  std::string out;
  base::AppendLittle<uint64_t>(end.last_sequence, &out);
  base::AppendLittle<uint64_t>(end.records, &out);
  base::AppendLittle<uint32_t>(end.last_time, &out);
  return out;
}

bool DecodeEnd(std::string_view raw, ArchiveEnd* end) {
  size_t at = 0;
  return Get(raw, &at, &end->last_sequence) && Get(raw, &at, &end->records) &&
         Get(raw, &at, &end->last_time) && at == raw.size();
}

std::string EncodeIndex(const std::vector<std::string>& keys) {
  std::string out;
  for (const std::string& key : keys) {
    base::AppendLittle<uint16_t>(static_cast<uint16_t>(key.size()), &out);
    out.append(key);
  }
  return out;
}

bool DecodeIndex(std::string_view raw, std::vector<std::string>* keys) {
  size_t at = 0;
  while (at < raw.size()) {
    if (!GetString(raw, &at, &keys->emplace_back())) {
      return false;
    }
  }
  return true;
}

}  // namespace trellis::backup
