#include "proto/mysql/wire.h"

namespace trellis::proto::mysql {
namespace {

// Little-endian, `width` bytes.
bool ReadLittleEndian(std::string_view& rest, size_t width, uint64_t* value) {
  if (rest.size() < width) {
    return false;
  }
  uint64_t result = 0;
  for (size_t i = 0; i < width; ++i) {
    result |= static_cast<uint64_t>(static_cast<uint8_t>(rest[i])) << (8 * i);
  }
  rest.remove_prefix(width);
  *value = result;
  return true;
}

void AppendLittleEndian(std::string& out, uint64_t value, size_t width) {
  for (size_t i = 0; i < width; ++i) {
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
  }
}

}  // namespace

bool PayloadReader::ReadU8(uint8_t* value) {
  uint64_t wide = 0;
  if (!ReadLittleEndian(rest_, 1, &wide)) {
    return false;
  }
  *value = static_cast<uint8_t>(wide);
  return true;
}

bool PayloadReader::ReadU16(uint16_t* value) {
  uint64_t wide = 0;
  if (!ReadLittleEndian(rest_, 2, &wide)) {
    return false;
  }
  *value = static_cast<uint16_t>(wide);
  return true;
}

bool PayloadReader::ReadU24(uint32_t* value) {
  uint64_t wide = 0;
  if (!ReadLittleEndian(rest_, 3, &wide)) {
    return false;
  }
  *value = static_cast<uint32_t>(wide);
  return true;
}

bool PayloadReader::ReadU32(uint32_t* value) {
  uint64_t wide = 0;
  if (!ReadLittleEndian(rest_, 4, &wide)) {
    return false;
  }
  *value = static_cast<uint32_t>(wide);
  return true;
}

bool PayloadReader::ReadU64(uint64_t* value) { return ReadLittleEndian(rest_, 8, value); }

bool PayloadReader::ReadLenencInt(uint64_t* value) {
  std::string_view rest = rest_;
  uint64_t first = 0;
  if (!ReadLittleEndian(rest, 1, &first)) {
    return false;
  }
  size_t width = 0;
  switch (first) {
    case 0xFB:
    case 0xFF:
      return false;
    case 0xFC:
      width = 2;
      break;
    case 0xFD:
      width = 3;
      break;
    case 0xFE:
      width = 8;
      break;
    default:
      rest_ = rest;
      *value = first;
      return true;
  }
  if (!ReadLittleEndian(rest, width, value)) {
    return false;
  }
  rest_ = rest;
  return true;
}

bool PayloadReader::ReadLenencString(std::string_view* value) {
  const std::string_view before = rest_;
  uint64_t length = 0;
  if (!ReadLenencInt(&length) || length > rest_.size()) {
    rest_ = before;
    return false;
  }
  *value = rest_.substr(0, length);
  rest_.remove_prefix(length);
  return true;
}

bool PayloadReader::ReadNulString(std::string_view* value) {
  const size_t nul = rest_.find('\0');
  if (nul == std::string_view::npos) {
    return false;
  }
  *value = rest_.substr(0, nul);
  rest_.remove_prefix(nul + 1);
  return true;
}

bool PayloadReader::ReadBytes(size_t n, std::string_view* value) {
  if (n > rest_.size()) {
    return false;
  }
  *value = rest_.substr(0, n);
  rest_.remove_prefix(n);
  return true;
}

bool PayloadReader::Skip(size_t n) {
  std::string_view skipped;
  return ReadBytes(n, &skipped);
}

std::string_view PayloadReader::ReadRest() {
  const std::string_view rest = rest_;
  rest_ = {};
  return rest;
}

void AppendU8(std::string& out, uint8_t value) { AppendLittleEndian(out, value, 1); }
void AppendU16(std::string& out, uint16_t value) { AppendLittleEndian(out, value, 2); }
void AppendU24(std::string& out, uint32_t value) { AppendLittleEndian(out, value, 3); }
void AppendU32(std::string& out, uint32_t value) { AppendLittleEndian(out, value, 4); }
void AppendU64(std::string& out, uint64_t value) { AppendLittleEndian(out, value, 8); }

void AppendLenencInt(std::string& out, uint64_t value) {
  if (value < 0xFB) {
    AppendU8(out, static_cast<uint8_t>(value));
  } else if (value <= 0xFFFF) {
    AppendU8(out, 0xFC);
    AppendLittleEndian(out, value, 2);
  } else if (value <= 0xFFFFFF) {
    AppendU8(out, 0xFD);
    AppendLittleEndian(out, value, 3);
  } else {
    AppendU8(out, 0xFE);
    AppendLittleEndian(out, value, 8);
  }
}

void AppendLenencString(std::string& out, std::string_view value) {
  AppendLenencInt(out, value.size());
  out.append(value);
}

void AppendNulString(std::string& out, std::string_view value) {
  out.append(value);
  out.push_back('\0');
}

}  // namespace trellis::proto::mysql
