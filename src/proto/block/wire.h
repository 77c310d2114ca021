// The storage nodes' protocol (docs/block.md): how the volume client (the NBD server)
// reads and writes pieces of chunks on a `trellis blockd`. Binary, little-endian, one
// fixed header each way; requests pipeline on a connection and the node answers them
// in order. Pure functions, no I/O; fuzzed.
//
//   request  56 bytes: magic "TBLQ", op u8, flags u8, 2 reserved, block_size u32,
//            chunk u32, id u64, volume u64, offset u64, generation u64, length u32,
//            4 reserved; then `length` bytes of data for a WRITE or a REPAIR
//   reply    24 bytes: magic "TBLR", status u32, id u64, length u32, 4 reserved; then
//            `length` bytes of data for a READ
//
// A piece is named by (volume id, chunk number); offsets and lengths are bytes within
// the piece, whole blocks of `block_size` (the volume's, which is also the unit of the
// node's checksums).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace trellis::proto::block {

enum class Op : uint8_t {
  kRead = 1,
  kWrite = 2,
  kFlush = 3,  // Every write this node acknowledged is durable (no piece named).
  kZero = 4,   // The range reads as zeroes from now on (no data sent).
  kFence = 5,  // Refuse writes of a generation below this one from now on (no range).
  // Writes the blocks of the data that fail their checksum here and leaves the others:
  // a good copy's blocks sent to mend a bad one, which can never undo a newer write.
  kRepair = 6,
};
inline constexpr uint8_t kFlagFua = 0x1;     // Durable before the reply.
inline constexpr uint8_t kFlagNoHole = 0x2;  // A ZERO keeps the range's space allocated.

enum class Status : uint32_t {
  kOk = 0,
  kCorrupt = 1,  // A block's checksum does not match: this copy is bad, ask another.
  kStale = 2,    // The request's generation was fenced by a newer writer.
  kInvalid = 3,  // Misaligned, past the piece, a bad block size: a client bug.
  kIoError = 4,  // The node's disk failed the request.
  kNoSpace = 5,
};
const char* StatusName(Status status);

struct RequestHeader {
  Op op = Op::kRead;
  uint8_t flags = 0;
  uint32_t block_size = 4096;
  uint32_t chunk = 0;
  uint64_t id = 0;
  uint64_t volume = 0;
  uint64_t offset = 0;
  uint64_t generation = 0;
  uint32_t length = 0;
};

struct ReplyHeader {
  Status status = Status::kOk;
  uint64_t id = 0;
  uint32_t length = 0;
};

inline constexpr size_t kRequestHeaderBytes = 56;
inline constexpr size_t kReplyHeaderBytes = 24;
// The most a READ or WRITE carries: the NBD server's largest request.
inline constexpr uint32_t kMaxPayload = 32u << 20;

enum class ParseStatus {
  kOk,
  kIncomplete,  // Fewer bytes than a header.
  kBadMagic,    // Not this protocol, or out of step: close the connection.
  kBadHeader,   // An unknown op or status, or a length over kMaxPayload: close too.
};

ParseStatus ParseRequestHeader(std::string_view input, RequestHeader* header);
ParseStatus ParseReplyHeader(std::string_view input, ReplyHeader* header);
void AppendRequestHeader(const RequestHeader& header, std::string* out);
void AppendReplyHeader(const ReplyHeader& header, std::string* out);

}  // namespace trellis::proto::block
