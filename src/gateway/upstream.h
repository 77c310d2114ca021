// Upstream: a connection from the gateway to a server of a pool, for one client
// connection (tcp) or for the requests of one client connection (http, kept alive
// while the server keeps it open).
//
// ConnectUpstream picks a server for the client's address (Pool::Pick) and connects
// within the timeout; a server that refuses or does not answer is reported
// (Pool::ReportFailure: down at once, passive ejection) and one other server is tried,
// so a server that died since its last check costs its clients a retry, not an error.
//
// Thread safety: one coroutine's.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "gateway/pool.h"

namespace trellis::gateway {

struct Upstream {
  ServerLease lease;
  boost::asio::ip::tcp::socket socket;
};

// nullopt: no server of `pool` could be reached (none up, or both tries failed).
// `failed`: a server that already failed this request (empty: none), not tried again.
boost::asio::awaitable<std::optional<Upstream>> ConnectUpstream(
    Pool& pool, const boost::asio::ip::address& source, std::chrono::milliseconds timeout,
    std::string failed);

}  // namespace trellis::gateway
