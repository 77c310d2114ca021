#include "backup/cluster_dump.h"

#include "backup/archive_file.h"
#include "base/clock.h"
#include "cache/replication_wire.h"

namespace trellis::backup {

namespace {

constexpr int kCompressionLevel = 3;
constexpr size_t kBlockBytes = 1 << 20;

bool Live(const ItemState& item, uint32_t unix_now) {
  return item.exptime == 0 || item.exptime > unix_now;
}

}  // namespace

std::string EncodeClusterDump(const ClusterState& state, uint32_t unix_now) {
  std::string out;
  AppendBlock(BlockType::kHeader,
              EncodeHeader({FileKind::kDump, std::string(kClusterDumpGroup), 0, 0,
                            base::UnixMilliseconds()}),
              kCompressionLevel, &out);
  std::string records;
  uint64_t count = 0;
  for (const auto& [key, key_state] : state) {
    if (!key_state.item || !Live(*key_state.item, unix_now)) {
      continue;
    }
    cache::AppendRecordFrame(
        {0, cache::MutationOp::kStore, key, key_state.item->value, key_state.item->client_flags,
         key_state.item->exptime, 0, key_state.time},
        &records);
    ++count;
    if (records.size() >= kBlockBytes) {
      AppendBlock(BlockType::kRecords, records, kCompressionLevel, &out);
      records.clear();
    }
  }
  if (!records.empty()) {
    AppendBlock(BlockType::kRecords, records, kCompressionLevel, &out);
  }
  AppendBlock(BlockType::kEnd, EncodeEnd({0, count, unix_now}), kCompressionLevel, &out);
  return out;
}

base::Result<RestorePlan> DecodeClusterDump(std::string_view bytes, uint32_t unix_now) {
  RestorePlan plan;
  size_t at = 0;
  bool first = true;
  std::optional<ArchiveEnd> end;
  uint64_t records = 0;
  while (at < bytes.size()) {
    const auto where = [at] { return " at offset " + std::to_string(at); };
    Block block;
    size_t consumed = 0;
    const BlockStatus status = ParseBlock(bytes.substr(at), &block, &consumed);
    if (status == BlockStatus::kNeedMore) {
      return base::InvalidArgument("the dump is truncated" + where());
    }
    if (status == BlockStatus::kBad) {
      return base::InvalidArgument("the dump has a corrupt block" + where());
    }
    if (first) {
      ArchiveHeader header;
      if (block.type != BlockType::kHeader || !DecodeHeader(block.raw, &header) ||
          header.kind != FileKind::kDump || header.group != kClusterDumpGroup) {
        return base::InvalidArgument("not a Trellis cluster dump (no dump header" + where() + ")");
      }
      first = false;
    } else if (end) {
      return base::InvalidArgument("the dump goes on after its end block" + where());
    } else if (block.type == BlockType::kEnd) {
      if (!DecodeEnd(block.raw, &end.emplace())) {
        return base::InvalidArgument("the dump's end block is malformed" + where());
      }
    } else if (block.type == BlockType::kRecords) {
      std::string_view input = block.raw;
      while (!input.empty()) {
        cache::ReplicationFrame frame;
        size_t frame_bytes = 0;
        if (cache::ParseReplicationFrame(input, &frame, &frame_bytes) != cache::FrameStatus::kOk ||
            frame.type != 'R' || frame.record.op != cache::MutationOp::kStore) {
          return base::InvalidArgument("the dump has a malformed record" + where());
        }
        ++records;
        ItemState item{std::string(frame.record.value), frame.record.client_flags,
                       frame.record.exptime};
        if (Live(item, unix_now)) {
          plan.sets.emplace_back(std::string(frame.record.key), std::move(item));
        }
        input.remove_prefix(frame_bytes);
      }
    } else {
      return base::InvalidArgument("the dump has an unexpected block" + where());
    }
    at += consumed;
  }
  if (!end) {
    return base::InvalidArgument(first ? "the dump is empty" : "the dump has no end block");
  }
  if (end->records != records) {
    return base::InvalidArgument("the dump says " + std::to_string(end->records) +
                                 " items but holds " + std::to_string(records));
  }
  return plan;
}

}  // namespace trellis::backup
