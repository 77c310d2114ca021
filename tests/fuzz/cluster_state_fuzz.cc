// libFuzzer target for the cluster map reader (what every node parses from the master):
// any bytes must either be refused with an error or give a whole map whose slot table
// is sound (every slot names one of the map's groups), and that map must write back to
// JSON that reads as the same map.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "master/client/cluster_state.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using trellis::master::ClusterState;
  const nlohmann::json json = nlohmann::json::parse(data, data + size, nullptr, false);
  if (json.is_discarded()) {
    return 0;
  }
  const auto map = trellis::master::ParseClusterState(json);
  if (!map.ok()) {
    return 0;
  }
  const std::vector<uint16_t> owners = map->SlotGroups();
  if (owners.size() != (map->groups.empty() ? 0 : ClusterState::kSlots)) {
    std::abort();
  }
  for (uint16_t owner : owners) {
    if (owner >= map->groups.size()) {
      std::abort();
    }
  }
  const nlohmann::json written = trellis::master::ToJson(*map);
  const auto again = trellis::master::ParseClusterState(written);
  if (!again.ok() || trellis::master::ToJson(*again) != written) {
    std::abort();
  }
  return 0;
}
