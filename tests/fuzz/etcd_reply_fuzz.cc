// libFuzzer target for the readers of etcd's replies (etcd/wire.h), what a master reads
// from its etcd members: any bytes must be refused with an error or read into a whole
// value, never crash; a lease granted and a keepalive that read have a positive TTL.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "etcd/wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace wire = trellis::etcd::wire;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)wire::ParseWatchMessage(text);
  (void)wire::ErrorOf(400, text);
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded()) {
    return 0;
  }
  (void)wire::ParseRangeReply(json);
  (void)wire::ParsePutReply(json);
  (void)wire::ParseTxnReply(json);
  if (const auto lease = wire::ParseLeaseGrantReply(json); lease.ok() && lease->ttl.count() <= 0) {
    std::abort();
  }
  if (const auto ttl = wire::ParseKeepAliveReply(json); ttl.ok() && ttl->count() <= 0) {
    std::abort();
  }
  return 0;
}
