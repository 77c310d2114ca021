#include "net/failure_limiter.h"

#include <algorithm>

namespace trellis::net {

void FailureLimiter::Refill(Budget& budget, Clock::time_point now) {
  const double elapsed = std::chrono::duration<double>(now - budget.at).count();
  budget.left = std::min(kBurst, budget.left + std::max(0.0, elapsed) * kPerSecond);
  budget.at = now;
}

FailureLimiter::Clock::duration FailureLimiter::Refusal(const boost::asio::ip::address& source,
                                                        Clock::time_point now) {
  std::lock_guard lock(mu_);
  const auto it = sources_.find(source);
  if (it == sources_.end()) {
    return {};
  }
  Refill(it->second, now);
  if (it->second.left >= 1) {
    return {};
  }
  return std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>((1 - it->second.left) / kPerSecond));
}

void FailureLimiter::Failed(const boost::asio::ip::address& source, Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (sources_.size() >= sweep_at_) {
    std::erase_if(sources_, [now](const auto& entry) {
      Budget budget = entry.second;
      Refill(budget, now);
      return budget.left >= kBurst;
    });
    sweep_at_ = std::max(kSweepAbove, 2 * sources_.size());
  }
  Budget& budget = sources_.try_emplace(source, Budget{kBurst, now}).first->second;
  Refill(budget, now);
  budget.left = std::max(0.0, budget.left - 1);
}

size_t FailureLimiter::sources() const {
  std::lock_guard lock(mu_);
  return sources_.size();
}

}  // namespace trellis::net
