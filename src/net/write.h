// WriteAll: all of a message to a TCP socket, at once when the socket's send buffer takes
// it whole (the usual case for a reply or a relayed request: no suspension, no operation
// queued on the reactor, no completion posted and resumed), else the rest as Asio's
// async_write does. The gateway relays every request and response through it: per
// request, two suspensions fewer: 30.7 us of the gateway's CPU per proxied request
// against HAProxy's 31.1 (medians of 4 runs of wrk -c50, bench/RESULTS.md).
//
// Thread safety: a coroutine on `socket`'s executor, the socket's only writer.
#pragma once

#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace trellis::net {

// The error that ended the write, or success once every byte is written.
// REQUIRES: socket.non_blocking() (so that the first attempt never blocks the thread).
boost::asio::awaitable<boost::system::error_code> WriteAll(boost::asio::ip::tcp::socket& socket,
                                                           std::string_view bytes);

}  // namespace trellis::net
