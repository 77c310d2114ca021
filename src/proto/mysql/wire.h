// The MySQL protocol's basic types (MariaDB's "Protocol Data Types"): little-endian
// fixed-width integers, length-encoded integers and strings, NUL-terminated strings; a
// bounds-checked reader over one packet's payload and the writers that match it.
//
// The reader never reads past its input: every read reports failure instead, and a
// failed read leaves the reader where it was, so the codec's parsers (handshake.h,
// messages.h, response.h) can reject a short or lying packet with a plain false.
//
// Thread safety: a PayloadReader belongs to its caller; the writers are pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace trellis::proto::mysql {

class PayloadReader {
 public:
  explicit PayloadReader(std::string_view payload) : rest_(payload) {}

  bool ReadU8(uint8_t* value);
  bool ReadU16(uint16_t* value);
  bool ReadU24(uint32_t* value);
  bool ReadU32(uint32_t* value);
  bool ReadU64(uint64_t* value);
  // A length-encoded integer: < 0xFB in one byte, else 0xFC, 0xFD, 0xFE and 2, 3 or 8
  // bytes. 0xFB (NULL in a text row) and 0xFF (an error packet's marker) are not integers.
  bool ReadLenencInt(uint64_t* value);
  bool ReadLenencString(std::string_view* value);
  // Bytes up to a NUL, which is consumed and not returned.
  bool ReadNulString(std::string_view* value);
  bool ReadBytes(size_t n, std::string_view* value);
  bool Skip(size_t n);
  // Everything left (a packet's trailing "string<EOF>").
  std::string_view ReadRest();

  size_t remaining() const { return rest_.size(); }
  bool empty() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

void AppendU8(std::string& out, uint8_t value);
void AppendU16(std::string& out, uint16_t value);
void AppendU24(std::string& out, uint32_t value);
void AppendU32(std::string& out, uint32_t value);
void AppendU64(std::string& out, uint64_t value);
void AppendLenencInt(std::string& out, uint64_t value);
void AppendLenencString(std::string& out, std::string_view value);
void AppendNulString(std::string& out, std::string_view value);

}  // namespace trellis::proto::mysql
