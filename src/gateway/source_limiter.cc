#include "gateway/source_limiter.h"

#include <algorithm>

namespace trellis::gateway {

SourceLimiter::SourceLimiter(const LimitsConfig& limits)
    : max_connections_(limits.per_source_connections),
      rate_(limits.per_source_rate),
      burst_(limits.per_source_burst != 0 ? limits.per_source_burst : limits.per_source_rate) {}

SourceLimiter::Admission::~Admission() {
  if (limiter_ != nullptr) {
    limiter_->Release(source_);
  }
}

SourceLimiter::Admission SourceLimiter::Admit(const boost::asio::ip::address& source,
                                              Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (sources_.size() >= sweep_at_) {
    // Sources with nothing open whose bucket has refilled by now are as new ones.
    std::erase_if(sources_, [&](const auto& entry) {
      const Source& idle = entry.second;
      return idle.connections == 0 &&
             idle.tokens + std::chrono::duration<double>(now - idle.refilled).count() * rate_ >=
                 burst_;
    });
    sweep_at_ = std::max(kSweepAbove, 2 * sources_.size());  // Amortised: O(1) an Admit.
  }
  auto [it, added] = sources_.try_emplace(source);
  Source& entry = it->second;
  if (added) {
    entry.tokens = burst_;
    entry.refilled = now;
  }
  if (rate_ != 0) {
    const double elapsed = std::chrono::duration<double>(now - entry.refilled).count();
    entry.tokens = std::min(burst_, entry.tokens + std::max(0.0, elapsed) * rate_);
    entry.refilled = now;
  }
  const bool over_connections = max_connections_ != 0 && entry.connections >= max_connections_;
  const bool over_rate = rate_ != 0 && entry.tokens < 1;
  if (over_connections || over_rate) {
    return {};
  }
  if (rate_ != 0) {
    entry.tokens -= 1;
  }
  ++entry.connections;
  return Admission(this, source);
}

void SourceLimiter::Release(const boost::asio::ip::address& source) {
  std::lock_guard lock(mu_);
  const auto it = sources_.find(source);
  if (it == sources_.end()) {
    return;
  }
  // Without a rate, a source with nothing open has nothing to remember.
  if (--it->second.connections == 0 && rate_ == 0) {
    sources_.erase(it);
  }
}

size_t SourceLimiter::sources() const {
  std::lock_guard lock(mu_);
  return sources_.size();
}

}  // namespace trellis::gateway
