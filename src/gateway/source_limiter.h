// SourceLimiter: the per-source limits of one listener (docs/gateway.md, "Protection"):
// at most `per_source_connections` connections open at once from one client address,
// and at most `per_source_rate` new ones a second from it (a token bucket of depth
// `per_source_burst`, the rate when 0). A connection over either limit is refused at
// once, so that one client (or one flood's source) cannot take the listener's
// connection cap from the others.
//
// A source is forgotten when it holds no connection and (with a rate) its bucket has
// refilled: Admit sweeps such sources out whenever the table has doubled since the last
// sweep (from kSweepAbove), so it stays about the size of the sources active within a
// bucket's refill time, at O(1) amortised per connection.
//
// Thread safety: internally synchronised (the listener's connections arrive on every
// worker); Admission releases on any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <utility>

#include <boost/asio/ip/address.hpp>

#include "gateway/gateway_config.h"

namespace trellis::gateway {

class SourceLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit SourceLimiter(const LimitsConfig& limits);

  // One admitted connection; its source's count goes down when it is destroyed.
  class Admission {
   public:
    Admission() = default;
    Admission(Admission&& other) noexcept
        : limiter_(std::exchange(other.limiter_, nullptr)), source_(other.source_) {}
    Admission& operator=(Admission&&) = delete;
    ~Admission();
    explicit operator bool() const { return limiter_ != nullptr; }

   private:
    friend class SourceLimiter;
    Admission(SourceLimiter* limiter, boost::asio::ip::address source)
        : limiter_(limiter), source_(source) {}
    SourceLimiter* limiter_ = nullptr;
    boost::asio::ip::address source_;
  };

  // Whether limits apply at all (both 0: every connection is admitted, nothing counted).
  bool active() const { return max_connections_ != 0 || rate_ != 0; }
  // An admission for a new connection from `source` at `now`, or an empty one (refused).
  Admission Admit(const boost::asio::ip::address& source, Clock::time_point now);
  size_t sources() const;  // Addresses in the table (for tests).

 private:
  struct Source {
    uint32_t connections = 0;
    double tokens = 0;  // Invariant: 0 <= tokens <= burst_.
    Clock::time_point refilled{};
  };
  void Release(const boost::asio::ip::address& source);

  static constexpr size_t kSweepAbove = 4096;

  const uint32_t max_connections_;
  const double rate_;   // Tokens a second.
  const double burst_;  // The bucket's depth.
  mutable std::mutex mu_;
  std::unordered_map<boost::asio::ip::address, Source> sources_;  // Guarded by mu_.
  size_t sweep_at_ = kSweepAbove;                                 // Guarded by mu_.
};

}  // namespace trellis::gateway
