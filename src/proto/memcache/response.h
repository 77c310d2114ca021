// Response: one reply of a memcached server (text or meta protocol), as a client reads
// it. Used by the load generator to count hits, misses and errors, and by the access
// proxy to relay replies. Pure parsing, no I/O.
//
// Thread safety: none; plain functions and values.
#pragma once

#include <cstddef>
#include <string_view>

namespace trellis::proto::memcache {

enum class ResponseKind {
  kValues,         // A get-family reply: zero or more VALUE blocks, then END.
  kStored,         // STORED
  kNotStored,      // NOT_STORED
  kExists,         // EXISTS
  kNotFound,       // NOT_FOUND
  kDeleted,        // DELETED
  kTouched,        // TOUCHED
  kOk,             // OK, RESET
  kNumber,         // An incr/decr result.
  kMetaValue,      // VA <len> ... then the data block.
  kMetaHeader,     // HD ...
  kMetaMiss,       // EN
  kMetaNotFound,   // NF
  kMetaNotStored,  // NS
  kMetaExists,     // EX
  kMetaNoop,       // MN
  kError,          // ERROR ...
  kClientError,    // CLIENT_ERROR ...
  kServerError,    // SERVER_ERROR ...
  kOther,          // Any other line (VERSION, STAT blocks are not framed here).
};

struct Response {
  ResponseKind kind = ResponseKind::kOther;
  size_t hits = 0;  // kValues: VALUE blocks; kMetaValue / kMetaHeader: 1.
};

enum class ResponseStatus { kOk, kNeedMore, kBad };

struct ResponseResult {
  ResponseStatus status;
  size_t consumed = 0;
};

// Parses the first whole reply of `input`.
ResponseResult ParseResponse(std::string_view input, Response* response);

}  // namespace trellis::proto::memcache
