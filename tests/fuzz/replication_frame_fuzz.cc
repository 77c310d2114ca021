// libFuzzer target for the replication stream's frame parser (what a backup reads from
// its main): any bytes, read as a stream of frames, must neither crash nor read out of
// bounds; every frame consumes a sane byte count and a record's views stay inside it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cache/replication_wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using trellis::cache::FrameStatus;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  trellis::cache::ReplicationFrame frame;
  while (!input.empty()) {
    size_t consumed = 0;
    if (trellis::cache::ParseReplicationFrame(input, &frame, &consumed) != FrameStatus::kOk) {
      break;
    }
    if (consumed == 0 || consumed > input.size()) {
      std::abort();
    }
    if (frame.type == 'R' &&
        (frame.record.key.data() < input.data() ||
         frame.record.value.data() + frame.record.value.size() > input.data() + consumed)) {
      std::abort();
    }
    input.remove_prefix(consumed);
  }
  return 0;
}
