// The tcp listener's handler (docs/gateway.md, "Listeners"): bytes of one client
// connection to a server of the listener's pool and back. The server is picked for the
// client's address (Upstream); bytes are copied both ways in reads of up to 64 KiB until
// both directions have ended: a side that finishes sending (a FIN) has its end passed on
// to the other (shutdown of the send side), so request-then-half-close protocols work.
// A client whose pool has no reachable server is closed at once.
//
// Thread safety: one connection's coroutine, on its shard.
#pragma once

#include <chrono>

#include <boost/asio/awaitable.hpp>

#include "gateway/pool.h"
#include "net/connection.h"

namespace trellis::gateway {

boost::asio::awaitable<void> ProxyTcp(net::Connection& client, Pool& pool,
                                      std::chrono::milliseconds connect_timeout);

}  // namespace trellis::gateway
