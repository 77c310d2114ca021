// libFuzzer target for the gateway's config readers: the file (what `trellis gateway
// --config` and a reload read) and a pool as JSON (the runtime API's body). Any bytes
// must either be refused with a message or give a config that ToToml writes as a file
// that reads back the same config and is written the same again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "gateway/gateway_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using trellis::gateway::ParseGatewayConfig;
  using trellis::gateway::ToToml;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (const auto pool = trellis::gateway::ParsePoolJson("p", text);
      !pool.ok() && pool.error().message.empty()) {
    std::abort();
  }
  const auto config = ParseGatewayConfig(text);
  if (!config.ok()) {
    if (config.error().message.empty()) {
      std::abort();
    }
    return 0;
  }
  const std::string written = ToToml(*config);
  const auto again = ParseGatewayConfig(written);
  if (!again.ok() || !(*again == *config) || ToToml(*again) != written) {
    std::abort();
  }
  return 0;
}
