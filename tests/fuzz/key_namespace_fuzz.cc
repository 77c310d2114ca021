// libFuzzer target for key namespaces (proto/memcache/key_namespace.h): any request the
// parser takes, once its keys are prefixed, must parse again as the same command with
// every key prefixed (or fail only for a key the prefix made too long), any bytes read as
// replies must lose the prefix without a crash or an overrun, and any bytes read as a key
// must name the tenant of the prefix they start with, if any.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proto/memcache/key_namespace.h"
#include "proto/memcache/parser.h"

namespace memcache = trellis::proto::memcache;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr std::string_view kPrefix = "12.3:";
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  (void)memcache::StripKeyPrefix(input, kPrefix);
  if (memcache::TenantOfKey(std::string(kPrefix) + std::string(input)) != 12) {
    std::abort();
  }
  (void)memcache::TenantOfKey(input);
  memcache::Request request;
  const memcache::ParseResult result = memcache::ParseRequest(input, 1 << 20, &request);
  if (result.status != memcache::ParseStatus::kOk || !memcache::NamesKeys(request.command)) {
    return 0;
  }
  const std::string prefixed =
      memcache::PrefixKeys(input.substr(0, result.consumed), request, kPrefix);
  memcache::Request again;
  const memcache::ParseResult reparsed = memcache::ParseRequest(prefixed, 1 << 20, &again);
  // The key as sent grows by the prefix (base64 keys: by its encoding's growth).
  size_t sent_key = request.key.size() + kPrefix.size();
  if (memcache::IsMeta(request.command) && request.meta.Has('b')) {
    sent_key = (sent_key + 2) / 3 * 4;
  }
  if (reparsed.status == memcache::ParseStatus::kError && sent_key > memcache::kMaxKeyLength) {
    return 0;
  }
  if (reparsed.status == memcache::ParseStatus::kError) {
    // So is a multi-get with one key the prefix made too long.
    for (std::string_view key : request.keys) {
      if (key.size() + kPrefix.size() > memcache::kMaxKeyLength) {
        return 0;
      }
    }
  }
  // Get-family commands name their keys in `keys` (none: "gat 0"), the others in `key`.
  const bool single_key = request.keys.empty() && request.command != memcache::Command::kGet &&
                          request.command != memcache::Command::kGets &&
                          request.command != memcache::Command::kGat &&
                          request.command != memcache::Command::kGats;
  if (reparsed.status != memcache::ParseStatus::kOk || reparsed.consumed != prefixed.size() ||
      again.command != request.command || again.keys.size() != request.keys.size() ||
      (single_key && again.key != std::string(kPrefix) + std::string(request.key))) {
    std::abort();
  }
  for (size_t i = 0; i < request.keys.size(); ++i) {
    if (again.keys[i] != std::string(kPrefix) + std::string(request.keys[i])) {
      std::abort();
    }
  }
  return 0;
}
