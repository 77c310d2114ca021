// libFuzzer target for the TLS ClientHello reader: any bytes must parse without crashing or
// reading out of bounds; an accepted server name must be one the router can use as is
// (lowercase host name characters, at most 255 bytes), and kNeedMore must ask for more
// than it was given, or a caller reading until it has `needed` bytes would spin.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "proto/tls/client_hello.h"

namespace {

bool IsRoutableServerName(std::string_view name) {
  if (name.size() > 255 || (!name.empty() && name.back() == '.')) return false;
  for (const char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_')) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using trellis::proto::tls::HelloStatus;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  trellis::proto::tls::ClientHello hello;
  size_t needed = 0;
  const HelloStatus status = trellis::proto::tls::ParseClientHello(input, &hello, &needed);
  if (status == HelloStatus::kOk && !IsRoutableServerName(hello.server_name)) std::abort();
  if (status == HelloStatus::kNeedMore && needed <= size) std::abort();
  if (status == HelloStatus::kNotTls && (size == 0 || data[0] == 22)) std::abort();
  return 0;
}
