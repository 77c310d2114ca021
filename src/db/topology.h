// DbTopology: which of CDB's MariaDB servers takes writes now, as `trellis db` publishes
// it on GET /v1/db/topology (db_manager.h) and `trellis dbproxy` follows it; and the
// body of a switchover's request. The
// manager builds and serialises it (ToJson); a reader parses it once (ParseDbTopology)
// into a whole, typed value or an error naming the field, and ignores fields it does not
// know (a newer manager may add some).
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/result.h"

namespace trellis::db {

// A replica as the manager's last probe saw it.
struct DbReplica {
  std::string address;   // HOST:PORT.
  std::string position;  // The GTID position it has applied ("0-1-42").
  // How far its applying is behind its primary's clock (Seconds_Behind_Master); none
  // when it does not apply (its SQL thread stopped).
  std::optional<uint64_t> lag_seconds;

  friend bool operator==(const DbReplica&, const DbReplica&) = default;
};

struct DbTopology {
  uint64_t epoch = 0;  // Grows at every change of `primary`; 0: none chosen yet.
  // HOST:PORT of the server that takes writes; "" while none does (before the first
  // choice, between a primary's loss and its replacement, or while a failover is
  // refused: the status says why).
  std::string primary;
  std::vector<DbReplica> replicas;  // Those replicating from it.

  friend bool operator==(const DbTopology&, const DbTopology&) = default;
};

nlohmann::json ToJson(const DbTopology& topology);
base::Result<DbTopology> ParseDbTopology(const nlohmann::json& json);

// POST /v1/db/switchover's body: the server to make the primary, by its name in the file.
struct SwitchoverRequest {
  std::string to;
};

nlohmann::json ToJson(const SwitchoverRequest& request);
base::Result<SwitchoverRequest> ParseSwitchoverRequest(const nlohmann::json& json);

}  // namespace trellis::db
