// libFuzzer target for the NBD server's protocol (proto/nbd): any bytes fed to a
// negotiation, in any split, must be consumed without crashing or reading out of bounds;
// a step never consumes more than it was given, never ends in transmission without a
// known export, and a step that needs more input consumed nothing it could not use.
// What follows the negotiation is read as transmission requests.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proto/nbd/nbd.h"

namespace nbd = trellis::proto::nbd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  nbd::Negotiation negotiation(
      [](std::string_view name) -> std::optional<nbd::Export> {
        if (name != "v1") {
          return std::nullopt;
        }
        nbd::Export exported;
        exported.size = 1 << 20;
        exported.min_block = 512;
        return exported;
      },
      [] { return std::vector<std::string>{"v1"}; });
  size_t at = 0;
  std::string output;
  for (;;) {
    const nbd::Negotiation::Upcoming upcoming = negotiation.Peek(input.substr(at));
    (void)upcoming;
    size_t consumed = 0;
    const nbd::Negotiation::Step step = negotiation.Feed(input.substr(at), &consumed, &output);
    if (consumed > input.size() - at) {
      std::abort();
    }
    at += consumed;
    if (step == nbd::Negotiation::Step::kTransmission) {
      if (negotiation.export_name() != "v1") {
        std::abort();
      }
      break;
    }
    if (step == nbd::Negotiation::Step::kClose || consumed == 0) {
      return 0;
    }
  }
  while (at < input.size()) {
    nbd::Request request;
    if (nbd::ParseRequest(input.substr(at), &request) != nbd::ParseStatus::kOk) {
      return 0;
    }
    std::string again;
    nbd::AppendRequest(request, &again);
    if (again != input.substr(at, nbd::kRequestBytes)) {
      std::abort();
    }
    nbd::AppendReply(request, negotiation.structured_replies(), 0, &output);
    at += nbd::kRequestBytes;
  }
  return 0;
}
