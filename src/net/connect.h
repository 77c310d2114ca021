// ConnectWithin: a TCP connect bounded by a timeout, for every client of a Trellis daemon
// that must not wait on a dead peer for the kernel's minutes of SYN retries (replication,
// the backup center's streams, the gateway's servers and health checks).
//
// Thread safety: a coroutine on `socket`'s executor.
#pragma once

#include <chrono>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace trellis::net {

// Connects `socket` to `to`; false if that failed or took longer than `timeout` (the
// attempt is cancelled then).
boost::asio::awaitable<bool> ConnectWithin(boost::asio::ip::tcp::socket& socket,
                                           const boost::asio::ip::tcp::endpoint& to,
                                           std::chrono::milliseconds timeout);

}  // namespace trellis::net
