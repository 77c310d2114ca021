#include "gateway/gateway_api.h"

#include <nlohmann/json.hpp>

namespace trellis::gateway {

// Every field, by its name; a missing one is an error when read.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ListenerStatus, name, kind, address, connections)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ServerStatusView, address, weight, up, draining,
                                   active_connections, total_connections, failures, check_seconds)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PoolStatus, name, balance, servers)

nlohmann::json ToJson(const GatewayStatus& status) {
  return {{"listeners", status.listeners}, {"pools", status.pools}};
}

base::Result<GatewayStatus> ParseGatewayStatus(const nlohmann::json& json) {
  try {
    GatewayStatus status;
    json.at("listeners").get_to(status.listeners);
    json.at("pools").get_to(status.pools);
    return status;
  } catch (const nlohmann::json::exception& error) {
    return base::InvalidArgument(std::string("the gateway's status: ") + error.what());
  }
}

}  // namespace trellis::gateway
