// libFuzzer target for the storage nodes' protocol (proto/block/wire.h): any bytes must
// parse as a request header and as a reply header without crashing or reading out of
// bounds, and a header that parses must write back to the same bytes (its reserved
// fields aside).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proto/block/wire.h"

namespace block = trellis::proto::block;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  block::RequestHeader request;
  if (block::ParseRequestHeader(input, &request) == block::ParseStatus::kOk) {
    std::string again;
    block::AppendRequestHeader(request, &again);
    block::RequestHeader reread;
    if (block::ParseRequestHeader(again, &reread) != block::ParseStatus::kOk ||
        again.substr(0, 6) != input.substr(0, 6) || again.substr(8, 44) != input.substr(8, 44) ||
        request.length > block::kMaxPayload) {
      std::abort();
    }
  }
  block::ReplyHeader reply;
  if (block::ParseReplyHeader(input, &reply) == block::ParseStatus::kOk) {
    std::string again;
    block::AppendReplyHeader(reply, &again);
    if (again.substr(0, 20) != input.substr(0, 20) || reply.length > block::kMaxPayload) {
      std::abort();
    }
  }
  return 0;
}
