#include "proto/memcache/response.h"

#include <charconv>

namespace trellis::proto::memcache {
namespace {

// Reads the length token at `text` (digits up to a space or the end).
bool ParseLength(std::string_view text, size_t* length) {
  const size_t end = std::min(text.find(' '), text.size());
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + end, *length);
  return ec == std::errc() && ptr == text.data() + end && end > 0;
}

// The data block of `length` bytes and its "\r\n" that follow a header line ending at
// `newline`; `consumed` is where the block ends.
ResponseResult DataBlock(std::string_view input, size_t newline, size_t length) {
  const size_t start = newline + 2;
  if (input.size() < start + length + 2) {
    return {ResponseStatus::kNeedMore};
  }
  if (input.substr(start + length, 2) != "\r\n") {
    return {ResponseStatus::kBad};
  }
  return {ResponseStatus::kOk, start + length + 2};
}

struct Prefix {
  std::string_view text;
  ResponseKind kind;
};

constexpr Prefix kLines[] = {
    {"STORED", ResponseKind::kStored},
    {"NOT_STORED", ResponseKind::kNotStored},
    {"EXISTS", ResponseKind::kExists},
    {"NOT_FOUND", ResponseKind::kNotFound},
    {"DELETED", ResponseKind::kDeleted},
    {"TOUCHED", ResponseKind::kTouched},
    {"OK", ResponseKind::kOk},
    {"RESET", ResponseKind::kOk},
    {"HD", ResponseKind::kMetaHeader},
    {"EN", ResponseKind::kMetaMiss},
    {"NF", ResponseKind::kMetaNotFound},
    {"NS", ResponseKind::kMetaNotStored},
    {"EX", ResponseKind::kMetaExists},
    {"MN", ResponseKind::kMetaNoop},
    {"CLIENT_ERROR", ResponseKind::kClientError},
    {"SERVER_ERROR", ResponseKind::kServerError},
    {"ERROR", ResponseKind::kError},
};

}  // namespace

ResponseResult ParseResponse(std::string_view input, Response* response) {
  *response = Response{};
  size_t offset = 0;
  if (input.starts_with("VALUE ") || input.starts_with("END\r\n")) {
    response->kind = ResponseKind::kValues;
    for (;;) {
      const size_t newline = input.find("\r\n", offset);
      if (newline == std::string_view::npos) {
        return {ResponseStatus::kNeedMore};
      }
      const std::string_view line = input.substr(offset, newline - offset);
      if (line == "END") {
        return {ResponseStatus::kOk, newline + 2};
      }
      // VALUE <key> <flags> <bytes> [<cas>]
      size_t fields[4];
      size_t count = 0;
      for (size_t i = 0; i < line.size() && count < 4; ++i) {
        if (line[i] == ' ') {
          fields[count++] = i + 1;
        }
      }
      size_t length = 0;
      if (!line.starts_with("VALUE ") || count < 3 ||
          !ParseLength(line.substr(fields[2]), &length)) {
        return {ResponseStatus::kBad};
      }
      const ResponseResult block = DataBlock(input, newline, length);
      if (block.status != ResponseStatus::kOk) {
        return block;
      }
      ++response->hits;
      offset = block.consumed;
    }
  }
  const size_t newline = input.find("\r\n");
  if (newline == std::string_view::npos) {
    return {ResponseStatus::kNeedMore};
  }
  const std::string_view line = input.substr(0, newline);
  if (line.starts_with("VA ")) {
    size_t length = 0;
    if (!ParseLength(line.substr(3), &length)) {
      return {ResponseStatus::kBad};
    }
    const ResponseResult block = DataBlock(input, newline, length);
    if (block.status == ResponseStatus::kOk) {
      response->kind = ResponseKind::kMetaValue;
      response->hits = 1;
    }
    return block;
  }
  for (const Prefix& prefix : kLines) {
    if (line.starts_with(prefix.text) &&
        (line.size() == prefix.text.size() || line[prefix.text.size()] == ' ')) {
      response->kind = prefix.kind;
      response->hits = prefix.kind == ResponseKind::kMetaHeader ? 1 : 0;
      return {ResponseStatus::kOk, newline + 2};
    }
  }
  size_t number = 0;
  response->kind = ParseLength(line, &number) ? ResponseKind::kNumber : ResponseKind::kOther;
  return {ResponseStatus::kOk, newline + 2};
}

}  // namespace trellis::proto::memcache
