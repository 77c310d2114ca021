// Deadline: aborts a client connection at a point in time unless cancelled first, so a
// client that sends no byte, a request head slowly (slowloris) or a TLS handshake never
// loses its connection at the deadline instead of holding it.
//
// Thread safety: the connection's shard only. Lifetime: declared after (destroyed
// before) nothing the connection needs; the destructor cancels the timer.
#pragma once

#include <algorithm>
#include <chrono>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gateway/gateway_config.h"
#include "net/connection.h"

namespace trellis::gateway {

class Deadline {
 public:
  Deadline(net::Connection& client, const boost::asio::any_io_executor& executor)
      : client_(client), timer_(executor) {}
  ~Deadline() { timer_.cancel(); }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  void At(std::chrono::steady_clock::time_point when) {
    timer_.expires_at(when);
    armed_ = true;
    // The handler only reads `client_` when the wait was not cancelled: the timer is
    // cancelled before the connection goes (the destructor), so it is there then.
    timer_.async_wait([&client = client_](const boost::system::error_code& error) {
      if (!error) {
        client.Abort();
      }
    });
  }
  // A connection's start: its first byte within the first-byte timeout, and nothing
  // longer than the head timeout, from `started`.
  void AtStart(std::chrono::steady_clock::time_point started, const LimitsConfig& limits) {
    At(started + std::min(limits.first_byte_timeout, limits.head_timeout));
  }
  void Cancel() {
    if (armed_) {
      timer_.cancel();
      armed_ = false;
    }
  }

 private:
  net::Connection& client_;
  boost::asio::steady_timer timer_;
  bool armed_ = false;
};

}  // namespace trellis::gateway
