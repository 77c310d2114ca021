// libFuzzer target for the backup center's archive blocks (what a restore reads from
// disk, where a torn write or a flipped bit may be) and for a whole-cluster dump (what
// `trellis backup load` reads): any bytes, read as a file of blocks and their payloads or
// as a dump, must neither crash nor read out of bounds, and a block must consume a sane
// byte count.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "backup/archive_file.h"
#include "backup/cluster_dump.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace trellis::backup;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  (void)DecodeClusterDump(input, 0);
  Block block;
  while (!input.empty()) {
    size_t consumed = 0;
    if (ParseBlock(input, &block, &consumed) != BlockStatus::kOk) {
      break;
    }
    if (consumed == 0 || consumed > input.size()) {
      std::abort();
    }
    ArchiveHeader header;
    ArchiveEnd end;
    std::vector<std::string> keys;
    (void)DecodeHeader(block.raw, &header);
    (void)DecodeEnd(block.raw, &end);
    (void)DecodeIndex(block.raw, &keys);
    input.remove_prefix(consumed);
  }
  return 0;
}
