// FailureLimiter: how often one client address may fail to authenticate (docs/security.md,
// "Hardening"), kept as fail2ban keeps it for a server: an address may fail kBurst times
// in a row, then kPerSecond times a second; one that has used that up is refused every
// authentication unchecked, its good ones too (a guesser and a client behind the same
// address cannot be told apart), until a failure's worth has come back, and the refusal
// says when. A 256-bit secret cannot be guessed anyway; this keeps one an operator chose
// (a weak admin token) from being guessed online, and a flood of guesses from costing a
// check each.
//
// An address is forgotten once its budget is whole again: the table is swept when it has
// doubled since the last sweep, so it holds about the addresses that failed within the
// last kBurst / kPerSecond seconds, at O(1) amortised a call.
//
// Thread safety: internally synchronised (the connections of every shard ask).
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <unordered_map>

#include <boost/asio/ip/address.hpp>

namespace trellis::net {

class FailureLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr double kBurst = 20;
  static constexpr double kPerSecond = 1;

  // How long `source` must wait before it may try to authenticate; zero: it may now.
  Clock::duration Refusal(const boost::asio::ip::address& source, Clock::time_point now);
  // `source` failed to authenticate at `now`.
  void Failed(const boost::asio::ip::address& source, Clock::time_point now);
  size_t sources() const;  // Addresses remembered (for tests).

 private:
  struct Budget {
    double left = kBurst;  // Failures it may still make. Invariant: <= kBurst.
    Clock::time_point at;  // When `left` was last brought up to date.
  };
  // `budget` as of `now`.
  static void Refill(Budget& budget, Clock::time_point now);

  static constexpr size_t kSweepAbove = 4096;

  mutable std::mutex mu_;
  std::unordered_map<boost::asio::ip::address, Budget> sources_;  // Guarded by mu_.
  size_t sweep_at_ = kSweepAbove;                                 // Guarded by mu_.
};

}  // namespace trellis::net
