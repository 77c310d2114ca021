// The memcached text and meta protocol parser: bytes in, one Request out, no I/O.
// Shared by the cache node, the access proxy and the load generator, and fuzzed.
//
// It follows memcached 1.6's proto_text.c: the same tokenising (runs of spaces separate
// tokens, "\n" or "\r\n" ends a line), the same limits (250-byte keys; a line without a
// newline after 2048 bytes closes the connection unless it is a get) and the same error
// strings, so that replies are byte for byte those of memcached.
//
// Thread safety: none; a Parser belongs to one connection.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "proto/memcache/request.h"

namespace trellis::proto::memcache {

enum class ParseStatus {
  kOk,        // *request holds a command; `consumed` bytes make it up.
  kNeedMore,  // No whole command yet; read more and call again with the same bytes.
  kError,     // Reply `error` (no "\r\n"); `consumed` bytes were the bad command.
  kTooLarge,  // A storage command whose value exceeds the item size limit: reply
              // "SERVER_ERROR object too large for cache" (unless noreply), consume the
              // line, then skip `swallow` more bytes (the value and its "\r\n").
              // *request has the command, key and noreply.
  kClose,     // The client broke the protocol beyond repair: close the connection.
};

struct ParseResult {
  ParseStatus status;
  size_t consumed = 0;
  std::string_view error;
  size_t swallow = 0;
};

// The longest line (without newline) before a non-get command closes the connection.
inline constexpr size_t kMaxLineLength = 2048;
// The longest get line we buffer (memcached's is unbounded; we cap memory per client).
inline constexpr size_t kMaxGetLineLength = 1 << 20;

// Parses the first command of `input`. `max_item_size` bounds storage values.
ParseResult ParseRequest(std::string_view input, size_t max_item_size, Request* request);

// The reply to a kError result, as memcached gives it: text commands keep noreply quiet
// even for errors; meta commands always report.
void AppendParseError(const Request& request, std::string_view error, std::string* out);
// The reply to a kTooLarge result: memcached's SERVER_ERROR, quiet under text noreply
// (meta errors ignore q).
void AppendTooLarge(const Request& request, std::string* out);

}  // namespace trellis::proto::memcache
