#include "cache/replication_wire.h"

#include <cstring>

#include "base/byte_order.h"

namespace trellis::cache {

namespace {

constexpr size_t kRecordHeader = 1 + 8 + 1 + 4 + 4 + 8 + 4 + 2 + 4;
constexpr size_t kHeartbeatSize = 1 + 8 + 8 + 4 + 1;

template <typename T>
T Get(const char*& cursor) {
  T value;
  std::memcpy(&value, cursor, sizeof(T));
  cursor += sizeof(T);
  return value;
}

}  // namespace

size_t RecordFrameSize(const MutationRecord& record) {
  return kRecordHeader + record.key.size() + record.value.size();
}

void AppendRecordFrame(const MutationRecord& record, std::string* out) {
  out->push_back('R');
  base::AppendLittle<uint64_t>(record.sequence, out);
  base::AppendLittle<uint8_t>(static_cast<uint8_t>(record.op), out);
  base::AppendLittle<uint32_t>(record.client_flags, out);
  base::AppendLittle<uint32_t>(record.exptime, out);
  base::AppendLittle<uint64_t>(record.cas, out);
  base::AppendLittle<uint32_t>(record.timestamp, out);
  base::AppendLittle<uint16_t>(static_cast<uint16_t>(record.key.size()), out);
  base::AppendLittle<uint32_t>(static_cast<uint32_t>(record.value.size()), out);
  out->append(record.key);
  out->append(record.value);
}

void AppendSnapshotStart(uint64_t log_id, std::string* out) {
  out->push_back('F');
  base::AppendLittle<uint64_t>(log_id, out);
}

void AppendContinuation(uint64_t log_id, std::string* out) {
  out->push_back('C');
  base::AppendLittle<uint64_t>(log_id, out);
}

void AppendSnapshotEnd(uint64_t sequence, std::string* out) {
  out->push_back('E');
  base::AppendLittle<uint64_t>(sequence, out);
}

void AppendHeartbeat(const Heartbeat& heartbeat, std::string* out) {
  out->push_back('H');
  base::AppendLittle<uint64_t>(heartbeat.token, out);
  base::AppendLittle<uint64_t>(heartbeat.wall_ms, out);
  base::AppendLittle<uint32_t>(heartbeat.lease_ms, out);
  base::AppendLittle<uint8_t>(heartbeat.frozen ? 1 : 0, out);
}

FrameStatus ParseReplicationFrame(std::string_view input, ReplicationFrame* frame,
                                  size_t* consumed) {
  if (input.empty()) {
    return FrameStatus::kNeedMore;
  }
  const char* cursor = input.data() + 1;
  frame->type = input[0];
  if (frame->type == 'F' || frame->type == 'E' || frame->type == 'C') {
    if (input.size() < 9) {
      return FrameStatus::kNeedMore;
    }
    frame->value = Get<uint64_t>(cursor);
    *consumed = 9;
    return FrameStatus::kOk;
  }
  if (frame->type == 'H') {
    if (input.size() < kHeartbeatSize) {
      return FrameStatus::kNeedMore;
    }
    frame->heartbeat.token = Get<uint64_t>(cursor);
    frame->heartbeat.wall_ms = Get<uint64_t>(cursor);
    frame->heartbeat.lease_ms = Get<uint32_t>(cursor);
    const auto frozen = Get<uint8_t>(cursor);
    if (frozen > 1) {
      return FrameStatus::kBad;
    }
    frame->heartbeat.frozen = frozen == 1;
    *consumed = kHeartbeatSize;
    return FrameStatus::kOk;
  }
  if (frame->type != 'R') {
    return FrameStatus::kBad;
  }
  if (input.size() < kRecordHeader) {
    return FrameStatus::kNeedMore;
  }
  MutationRecord& record = frame->record;
  record.sequence = Get<uint64_t>(cursor);
  const auto op = Get<uint8_t>(cursor);
  if (op > static_cast<uint8_t>(MutationOp::kMoveOut)) {
    return FrameStatus::kBad;
  }
  record.op = static_cast<MutationOp>(op);
  record.client_flags = Get<uint32_t>(cursor);
  record.exptime = Get<uint32_t>(cursor);
  record.cas = Get<uint64_t>(cursor);
  record.timestamp = Get<uint32_t>(cursor);
  const auto key_length = Get<uint16_t>(cursor);
  const auto value_length = Get<uint32_t>(cursor);
  if (key_length > 250 || value_length > (1u << 30)) {
    return FrameStatus::kBad;
  }
  const size_t total = kRecordHeader + key_length + size_t{value_length};
  if (input.size() < total) {
    return FrameStatus::kNeedMore;
  }
  record.key = input.substr(kRecordHeader, key_length);
  record.value = input.substr(kRecordHeader + key_length, value_length);
  *consumed = total;
  return FrameStatus::kOk;
}

}  // namespace trellis::cache
