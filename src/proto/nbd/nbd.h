// The NBD protocol (the fixed-newstyle handshake and the transmission phase) as pure
// functions, no I/O: what `trellis nbd` speaks to nbdinfo, nbdcopy, qemu and fio
// (docs/block.md). The spec is NetworkBlockDevice/nbd doc/proto.md; every integer on
// the wire is big-endian.
//
// Negotiation is a whole state machine here, fed bytes and answering bytes, so the
// server's handshake is tested and fuzzed without a socket. It speaks: EXPORT_NAME,
// ABORT, LIST, INFO and GO (NBD_INFO_EXPORT, NAME, DESCRIPTION, BLOCK_SIZE), and
// STRUCTURED_REPLY; STARTTLS is refused (POLICY: this server has no TLS), meta contexts
// (base:allocation) and extended headers are UNSUP, and so is every unknown option, which
// the client may follow with others.
//
// Thread safety: none; a Negotiation belongs to one connection.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trellis::proto::nbd {

// Handshake flags (server) and client flags.
inline constexpr uint16_t kFlagFixedNewstyle = 0x1;
inline constexpr uint16_t kFlagNoZeroes = 0x2;

// Options.
inline constexpr uint32_t kOptExportName = 1;
inline constexpr uint32_t kOptAbort = 2;
inline constexpr uint32_t kOptList = 3;
inline constexpr uint32_t kOptStartTls = 5;
inline constexpr uint32_t kOptInfo = 6;
inline constexpr uint32_t kOptGo = 7;
inline constexpr uint32_t kOptStructuredReply = 8;

// Option reply types.
inline constexpr uint32_t kRepAck = 1;
inline constexpr uint32_t kRepServer = 2;
inline constexpr uint32_t kRepInfo = 3;
inline constexpr uint32_t kRepErrUnsup = 0x80000001;
inline constexpr uint32_t kRepErrPolicy = 0x80000002;
inline constexpr uint32_t kRepErrInvalid = 0x80000003;
inline constexpr uint32_t kRepErrUnknown = 0x80000006;

// Info types (INFO, GO).
inline constexpr uint16_t kInfoExport = 0;
inline constexpr uint16_t kInfoName = 1;
inline constexpr uint16_t kInfoDescription = 2;
inline constexpr uint16_t kInfoBlockSize = 3;

// Transmission flags.
inline constexpr uint16_t kHasFlags = 0x0001;
inline constexpr uint16_t kReadOnly = 0x0002;
inline constexpr uint16_t kSendFlush = 0x0004;
inline constexpr uint16_t kSendFua = 0x0008;
inline constexpr uint16_t kSendTrim = 0x0020;
inline constexpr uint16_t kSendWriteZeroes = 0x0040;
inline constexpr uint16_t kCanMultiConn = 0x0100;

// Commands and their flags.
inline constexpr uint16_t kCmdRead = 0;
inline constexpr uint16_t kCmdWrite = 1;
inline constexpr uint16_t kCmdDisconnect = 2;
inline constexpr uint16_t kCmdFlush = 3;
inline constexpr uint16_t kCmdTrim = 4;
inline constexpr uint16_t kCmdCache = 5;
inline constexpr uint16_t kCmdWriteZeroes = 6;
inline constexpr uint16_t kCmdFlagFua = 0x01;
inline constexpr uint16_t kCmdFlagNoHole = 0x02;

// Errors a reply carries.
inline constexpr uint32_t kEperm = 1;
inline constexpr uint32_t kEio = 5;
inline constexpr uint32_t kEinval = 22;
inline constexpr uint32_t kEnospc = 28;
inline constexpr uint32_t kEoverflow = 75;
inline constexpr uint32_t kEshutdown = 108;

inline constexpr size_t kRequestBytes = 28;
// The most a WRITE or READ may carry: the spec's 32 MiB, advertised as the maximum block.
inline constexpr uint32_t kMaxPayload = 32u << 20;
// The most option data the server reads: names and info lists are far smaller.
inline constexpr uint32_t kMaxOptionBytes = 64u << 10;
// The longest export name (the spec's limit on strings).
inline constexpr uint32_t kMaxNameBytes = 4096;

// What the server offers under one export name.
struct Export {
  uint64_t size = 0;
  uint16_t flags = kHasFlags;  // Transmission flags.
  uint32_t min_block = 1;      // NBD_INFO_BLOCK_SIZE: a power of two dividing size.
  uint32_t preferred_block = 4096;
  std::string description;
};

// Answers the export of that name, or nullopt when there is none.
using ExportLookup = std::function<std::optional<Export>(std::string_view name)>;

// The 18 bytes the server sends first.
std::string Greeting();

class Negotiation {
 public:
  enum class Step {
    kNeedMore,      // Send `output`, then feed more input.
    kTransmission,  // Send `output`: the export is chosen (export_name()) and I/O begins.
    kClose,         // Send `output`, then close: an abort, or a violation (error()).
  };

  // `list`: the export names LIST answers.
  Negotiation(ExportLookup lookup, std::function<std::vector<std::string>()> list)
      : lookup_(std::move(lookup)), list_(std::move(list)) {}

  // Consumes the client's flags and at most one option of `input` (advancing
  // `*consumed`: unchanged when more input is needed) and appends its answers to `output`.
  Step Feed(std::string_view input, size_t* consumed, std::string* output);

  // What the next whole option in `input` asks about, for a caller that looks exports up
  // asynchronously before it feeds the option: the export an INFO, GO or EXPORT_NAME
  // names, or that it is a LIST. Nothing before a whole option is buffered.
  struct Upcoming {
    std::optional<std::string> export_name;
    bool opens = false;  // GO or EXPORT_NAME: transmission follows if the export is known.
    bool list = false;
  };
  Upcoming Peek(std::string_view input) const;

  const std::string& export_name() const { return export_name_; }
  const Export& chosen() const { return chosen_; }
  // Whether READs are answered with structured replies (the client asked and was ACKed).
  bool structured_replies() const { return structured_; }
  // Why a kClose that was not the client's ABORT.
  const std::string& error() const { return error_; }

 private:
  Step Option(uint32_t option, std::string_view data, std::string* output);
  Step InfoOrGo(uint32_t option, std::string_view data, std::string* output);
  Step Fail(std::string why);

  const ExportLookup lookup_;
  const std::function<std::vector<std::string>()> list_;
  bool have_client_flags_ = false;
  bool no_zeroes_ = false;
  bool structured_ = false;
  std::string export_name_;
  Export chosen_;
  std::string error_;
};

// One transmission-phase request (28 bytes, then `length` bytes of data for a WRITE).
struct Request {
  uint16_t flags = 0;
  uint16_t type = 0;
  uint64_t cookie = 0;
  uint64_t offset = 0;
  uint32_t length = 0;
};
enum class ParseStatus { kOk, kIncomplete, kBadMagic };
// Reads the header at the front of `input`.
ParseStatus ParseRequest(std::string_view input, Request* request);

void AppendRequest(const Request& request, std::string* out);  // For clients and tests.
// A simple reply; a successful READ's data follows it.
void AppendSimpleReply(uint32_t error, uint64_t cookie, std::string* out);
// The header of a structured OFFSET_DATA chunk that ends the reply: `length` bytes of data
// at `offset` follow it.
void AppendReadChunkHeader(uint64_t cookie, uint64_t offset, uint32_t length, std::string* out);
// A structured ERROR chunk that ends the reply.
void AppendErrorChunk(uint64_t cookie, uint32_t error, std::string_view message, std::string* out);
// The reply to a request: simple, or once structured replies were agreed and a READ
// failed, an ERROR chunk (a structured client takes no simple reply to a READ).
void AppendReply(const Request& request, bool structured, uint32_t error, std::string* out);

}  // namespace trellis::proto::nbd
