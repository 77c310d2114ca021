// The gateway's active health checks (docs/gateway.md, "Pools"): every check interval,
// each server of a pool gets a TCP connect (check kind tcp) or an HTTP GET of the check
// path on a connection of its own (kind http, answered with the expected status, by
// default any 2xx or 3xx), within the check timeout, and the pool hears the result
// (Pool::ReportCheck, which applies rise and fall). The servers of a pool are checked
// at once, so a dead server never delays the others' checks.
//
// Thread safety: runs on one executor; pools are internally synchronised.
#pragma once

#include <atomic>
#include <memory>

#include <boost/asio/awaitable.hpp>

#include "gateway/pool.h"

namespace trellis::gateway {

// Checks `pool` until `stop` is set or the pool is retired (read once per interval).
boost::asio::awaitable<void> CheckPool(std::shared_ptr<Pool> pool, const std::atomic<bool>& stop);

}  // namespace trellis::gateway
