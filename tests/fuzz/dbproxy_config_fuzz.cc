// libFuzzer target for the dbproxy's config reader: any bytes must either be refused with
// a message or give a config with a server, a cap within its bounds and users with names.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "db/dbproxy_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto config = trellis::db::ParseDbProxyConfig(text);
  if (!config.ok()) {
    if (config.error().message.empty()) std::abort();
    return 0;
  }
  if (config->primary.empty()) std::abort();
  if (config->max_backend_connections < 1 || config->max_backend_connections > 100000) {
    std::abort();
  }
  for (const auto& user : config->users) {
    if (user.name.empty() || config->FindUser(user.name) != &user) std::abort();
  }
  return 0;
}
