// The gateway's status as typed values on both sides of its admin endpoint: the gateway
// writes it into the daemon's /v1/status ("gateway"), `trellis gateway status` reads it
// back (docs/gateway.md, "Status").
//
// Thread safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/result.h"

namespace trellis::gateway {

struct ListenerStatus {
  std::string name;
  std::string kind;          // "tcp", "http", "tls".
  std::string address;       // HOST:PORT it listens on.
  uint64_t connections = 0;  // Open now.
};

struct ServerStatusView {
  std::string address;
  uint32_t weight = 1;
  bool up = true;
  bool draining = false;
  uint64_t active_connections = 0;
  uint64_t total_connections = 0;
  uint64_t failures = 0;
  double check_seconds = 0;  // The last active check's time (0: none yet).
};

struct PoolStatus {
  std::string name;
  std::string balance;
  std::vector<ServerStatusView> servers;
};

struct GatewayStatus {
  std::vector<ListenerStatus> listeners;
  std::vector<PoolStatus> pools;
};

nlohmann::json ToJson(const GatewayStatus& status);
// Errors: kInvalidArgument naming the field that is missing or of the wrong type.
base::Result<GatewayStatus> ParseGatewayStatus(const nlohmann::json& json);

}  // namespace trellis::gateway
