// libFuzzer target for the memcached reply parser (what the load generator and, later,
// the access proxy read from servers): any bytes, read as a stream of replies, must
// neither crash nor read out of bounds, and every reply must consume a sane byte count.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "proto/memcache/response.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using trellis::proto::memcache::ParseResponse;
  using trellis::proto::memcache::ResponseStatus;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  trellis::proto::memcache::Response response;
  while (!input.empty()) {
    const auto result = ParseResponse(input, &response);
    if (result.status != ResponseStatus::kOk) {
      break;
    }
    if (result.consumed == 0 || result.consumed > input.size()) {
      std::abort();  // No progress, or past the end.
    }
    input.remove_prefix(result.consumed);
  }
  return 0;
}
