// libFuzzer target for the readers of the master's API (what every node and `trellis
// cluster` parse from the master): any bytes must either be refused with an error or
// give a whole value that writes back to JSON that reads as the same value. A cluster
// map must also have a sound slot table (every slot names one of the map's groups).
// Every input is read as each type (the block store's volumes too): the corpus holds
// examples of each. Every input is
// also an Authorization header: a token found in it must split into an id and a secret
// of the token's form (http/auth.h, security/access_token.h).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "http/auth.h"
#include "master/client/cluster_state.h"
#include "master/client/volume_state.h"
#include "security/access_token.h"

namespace {

// Reads `json` with `parse`; if it is accepted, what ToJson writes must read back the same.
template <typename Parse>
void CheckRoundTrip(const nlohmann::json& json, Parse parse) {
  const auto value = parse(json);
  if (!value.ok()) {
    return;
  }
  const nlohmann::json written = trellis::master::ToJson(*value);
  const auto again = parse(written);
  if (!again.ok() || trellis::master::ToJson(*again) != written) {
    std::abort();
  }
}

// A token found in `header` has no spaces around it and, if it has the token's form,
// splits into an id and a secret of their sizes.
void CheckAuthorization(std::string_view header) {
  const auto token = trellis::http::BearerToken(header);
  if (!token.ok()) {
    return;
  }
  if (token->empty() || token->front() == ' ' || token->back() == ' ') {
    std::abort();
  }
  const auto parts = trellis::security::SplitToken(*token);
  if (parts.ok() && (parts->id.size() != 16 || parts->secret.size() != 64)) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using trellis::master::ClusterState;
  CheckAuthorization(std::string_view(reinterpret_cast<const char*>(data), size));
  const nlohmann::json json = nlohmann::json::parse(data, data + size, nullptr, false);
  if (json.is_discarded()) {
    return 0;
  }
  CheckRoundTrip(json, trellis::master::ParseRebalanceRequest);
  CheckRoundTrip(json, trellis::master::ParseRebalanceReply);
  CheckRoundTrip(json, trellis::master::ParseMigrationStatus);
  CheckRoundTrip(json, trellis::master::ParseTokenRequest);
  CheckRoundTrip(json, trellis::master::ParseIssuedToken);
  CheckRoundTrip(json, trellis::master::ParseTokenList);
  CheckRoundTrip(json, trellis::master::ParseCallerGrant);
  CheckRoundTrip(json, trellis::master::ParseTenantRequest);
  CheckRoundTrip(json, trellis::master::ParseIssuedTenant);
  CheckRoundTrip(json, trellis::master::ParseTenantList);
  CheckRoundTrip(json, trellis::master::ParseTenantFlushed);
  CheckRoundTrip(json, trellis::master::ParseClusterState);
  CheckRoundTrip(json, trellis::master::ParseStoredMap);
  CheckRoundTrip(json, trellis::master::ParseStoredToken);
  CheckRoundTrip(json, trellis::master::ParseVolumeRequest);
  CheckRoundTrip(json, trellis::master::ParseVolumeList);
  CheckRoundTrip(json, trellis::master::ParseStaleReport);
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
  return 0;
}
