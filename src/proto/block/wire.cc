#include "proto/block/wire.h"

#include "base/byte_order.h"

namespace trellis::proto::block {
namespace {

constexpr uint32_t kRequestMagic = 0x514c4254;  // "TBLQ" as little-endian bytes.
constexpr uint32_t kReplyMagic = 0x524c4254;    // "TBLR".

}  // namespace

const char* StatusName(Status status) {
  switch (status) {
    case Status::kOk:
      return "ok";
    case Status::kCorrupt:
      return "checksum mismatch";
    case Status::kStale:
      return "fenced by a newer writer";
    case Status::kInvalid:
      return "invalid request";
    case Status::kIoError:
      return "I/O error";
    case Status::kNoSpace:
      return "no space";
  }
  return "unknown status";
}

ParseStatus ParseRequestHeader(std::string_view input, RequestHeader* header) {
  if (input.size() >= 4 && base::LoadLittle<uint32_t>(input, 0) != kRequestMagic) {
    return ParseStatus::kBadMagic;
  }
  if (input.size() < kRequestHeaderBytes) {
    return ParseStatus::kIncomplete;
  }
  const uint8_t op = static_cast<uint8_t>(input[4]);
  if (op < static_cast<uint8_t>(Op::kRead) || op > static_cast<uint8_t>(Op::kRepair)) {
    return ParseStatus::kBadHeader;
  }
  header->op = static_cast<Op>(op);
  header->flags = static_cast<uint8_t>(input[5]);
  header->block_size = base::LoadLittle<uint32_t>(input, 8);
  header->chunk = base::LoadLittle<uint32_t>(input, 12);
  header->id = base::LoadLittle<uint64_t>(input, 16);
  header->volume = base::LoadLittle<uint64_t>(input, 24);
  header->offset = base::LoadLittle<uint64_t>(input, 32);
  header->generation = base::LoadLittle<uint64_t>(input, 40);
  header->length = base::LoadLittle<uint32_t>(input, 48);
  if (header->length > kMaxPayload) {
    return ParseStatus::kBadHeader;
  }
  return ParseStatus::kOk;
}

ParseStatus ParseReplyHeader(std::string_view input, ReplyHeader* header) {
  if (input.size() >= 4 && base::LoadLittle<uint32_t>(input, 0) != kReplyMagic) {
    return ParseStatus::kBadMagic;
  }
  if (input.size() < kReplyHeaderBytes) {
    return ParseStatus::kIncomplete;
  }
  const uint32_t status = base::LoadLittle<uint32_t>(input, 4);
  if (status > static_cast<uint32_t>(Status::kNoSpace)) {
    return ParseStatus::kBadHeader;
  }
  header->status = static_cast<Status>(status);
  header->id = base::LoadLittle<uint64_t>(input, 8);
  header->length = base::LoadLittle<uint32_t>(input, 16);
  if (header->length > kMaxPayload) {
    return ParseStatus::kBadHeader;
  }
  return ParseStatus::kOk;
}

void AppendRequestHeader(const RequestHeader& header, std::string* out) {
  base::AppendLittle(kRequestMagic, out);
  out->push_back(static_cast<char>(header.op));
  out->push_back(static_cast<char>(header.flags));
  base::AppendLittle(uint16_t{0}, out);
  base::AppendLittle(header.block_size, out);
  base::AppendLittle(header.chunk, out);
  base::AppendLittle(header.id, out);
  base::AppendLittle(header.volume, out);
  base::AppendLittle(header.offset, out);
  base::AppendLittle(header.generation, out);
  base::AppendLittle(header.length, out);
  base::AppendLittle(uint32_t{0}, out);
}

void AppendReplyHeader(const ReplyHeader& header, std::string* out) {
  base::AppendLittle(kReplyMagic, out);
  base::AppendLittle(static_cast<uint32_t>(header.status), out);
  base::AppendLittle(header.id, out);
  base::AppendLittle(header.length, out);
  base::AppendLittle(uint32_t{0}, out);
}

}  // namespace trellis::proto::block
