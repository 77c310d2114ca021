// libFuzzer target for the memcached protocol parser: any bytes, parsed as a pipeline the
// way a connection does it, must neither crash nor read out of bounds, and every result
// must consume a sane number of bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "proto/memcache/parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using trellis::proto::memcache::ParseRequest;
  using trellis::proto::memcache::ParseStatus;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  trellis::proto::memcache::Request request;
  while (!input.empty()) {
    const auto result = ParseRequest(input, 1 << 20, &request);
    if (result.status == ParseStatus::kNeedMore || result.status == ParseStatus::kClose) {
      break;
    }
    if (result.consumed == 0 || result.consumed > input.size()) {
      std::abort();  // No progress, or past the end: the handler would loop or overrun.
    }
    input.remove_prefix(result.consumed);
    input.remove_prefix(std::min(result.swallow, input.size()));
  }
  return 0;
}
