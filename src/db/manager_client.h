// The calls to `trellis db`'s API (db_manager.h) as types: what `trellis dbproxy` and
// `trellis db switchover` ask of the manager, over its admin endpoint.
//
// Thread safety: as http::Client's: the executor the client was made for.
#pragma once

#include <chrono>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "base/result.h"
#include "db/backup_catalog.h"
#include "db/topology.h"
#include "http/client.h"

namespace trellis::db {

// GET /v1/db/topology.
boost::asio::awaitable<base::Result<DbTopology>> FetchTopology(http::Client& manager,
                                                               std::chrono::milliseconds timeout);

// POST /v1/db/switchover, then the topology until the server named `to` is the primary
// (epoch past the one before), for up to `patience`. Errors: the manager's refusal of the
// request (unknown server, already the primary), or kUnavailable when it did not happen
// within `patience` (the manager's /v1/status says why: db.switchover_refusal).
boost::asio::awaitable<base::Result<DbTopology>> SwitchOver(http::Client& manager,
                                                            const std::string& to,
                                                            std::chrono::milliseconds patience);

// POST /v1/db/backups: a backup of `kind` of the primary, taken when it answers (up to
// `patience`). Errors: the manager's (no primary, the tool failed: its log says why).
boost::asio::awaitable<base::Result<BackupRecord>> TakeBackup(http::Client& manager,
                                                              BackupKind kind,
                                                              std::chrono::milliseconds patience);

}  // namespace trellis::db
