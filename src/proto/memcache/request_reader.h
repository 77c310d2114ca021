// RequestReader: takes memcached requests one at a time off the front of a connection's
// input buffer, the same way for the cache node and the access proxy. It drops the data
// block of a storage command refused as too large (memcached swallows it, however many
// reads it takes to arrive; also an ms refused for its flags), parses the next request, and
// consumes the request's bytes only when the caller says it has handled it, since the Request's
// views point into the buffer. Each connection loop reads, then drains:
//
//   for (;;) {
//     const ParseResult result = reader.Next(connection);
//     if (result.status == ParseStatus::kNeedMore) break;  // Read more, then again.
//     if (result.status == ParseStatus::kClose) ...         // Close the connection.
//     ... reply to reader.request(), or to the kError / kTooLarge ...
//     reader.Consume(connection);
//   }
//
// No I/O here: `Buffer` is anything with `std::string_view input()` and
// `void Consume(size_t bytes)` (net::Connection). The members are templates so that the
// loops pay no indirect call per request.
//
// Thread safety: none; one per connection.
#pragma once

#include <algorithm>
#include <cstddef>

#include "proto/memcache/parser.h"
#include "proto/memcache/request.h"

namespace trellis::proto::memcache {

class RequestReader {
 public:
  explicit RequestReader(size_t max_item_size) : max_item_size_(max_item_size) {}

  // The next request at the front of `buffer`, once what is left of a refused data block
  // has been dropped (kNeedMore until all of it has arrived). The request is request().
  template <typename Buffer>
  ParseResult Next(Buffer& buffer) {
    if (skip_ > 0) {
      const size_t take = std::min(skip_, buffer.input().size());
      buffer.Consume(take);
      skip_ -= take;
      if (skip_ > 0) {
        return {ParseStatus::kNeedMore, 0, {}, 0};
      }
    }
    last_ = ParseRequest(buffer.input(), max_item_size_, &request_);
    return last_;
  }

  // What Next() parsed; valid until Consume().
  const Request& request() const { return request_; }

  // Consumes what Next() returned (kOk, kError or kTooLarge), and starts dropping the
  // data block that goes with a refused command (kTooLarge, or an ms with bad flags).
  template <typename Buffer>
  void Consume(Buffer& buffer) {
    buffer.Consume(last_.consumed);
    skip_ = last_.swallow;
  }

 private:
  const size_t max_item_size_;
  Request request_;
  ParseResult last_{ParseStatus::kNeedMore, 0, {}, 0};
  size_t skip_ = 0;  // Bytes of a refused data block still to drop.
};

}  // namespace trellis::proto::memcache
