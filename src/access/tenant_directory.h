// TenantDirectory: the cache's tenants as an access node started with --auth enforces
// them (docs/security.md): who may log in with which password, the key prefix each is
// kept to (proto/memcache/key_namespace.h), and each one's request rate. One directory
// is made from each cluster map and travels with the route table made from it; the
// meters (TenantUsage) outlive the directories, so a map change neither resets a rate
// nor a count.
//
// The rate is enforced at each access node on its own (as HAProxy's per-process stick
// tables do): a tenant that spreads its clients over N access nodes gets up to N times
// its rate. Requests over it are refused, never queued.
//
// Thread safety: a TenantDirectory is immutable; TenantUsage and TenantRegistry are
// thread-safe (the shards share them).
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/metrics.h"
#include "master/client/cluster_state.h"
#include "net/failure_limiter.h"

namespace trellis::access {

// One tenant's meters at this node.
class TenantUsage {
 public:
  TenantUsage(base::Registry& metrics, const std::string& tenant);

  // Whether one more request fits the rate (`ops_per_second`, 0: no limit) at `now`; a
  // burst of up to a tenth of a second's requests passes at once. Counts it either way.
  bool Admit(uint64_t ops_per_second, std::chrono::steady_clock::time_point now);
  // How long the tenant must send nothing for `refused` more requests to have fit its
  // rate: how long a client whose requests were refused is not read from.
  static std::chrono::nanoseconds Penalty(uint64_t ops_per_second, size_t refused);
  // Bytes of its requests taken and of the replies sent back (for billing).
  void CountBytes(size_t in, size_t out) {
    bytes_in_.Increment(in);
    bytes_out_.Increment(out);
  }

 private:
  base::Counter& requests_;
  base::Counter& refused_;
  base::Counter& bytes_in_;
  base::Counter& bytes_out_;
  // Generic cell rate algorithm: the time (ns on the steady clock) from which the next
  // request would be on schedule. A compare-and-swap, so shards take no lock.
  std::atomic<int64_t> next_ns_{0};
  static constexpr int64_t kBurstNs = 100'000'000;  // A tenth of a second's requests.
};

struct Tenant {
  master::TenantState state;
  std::string key_prefix;  // state.KeyPrefix()
  std::shared_ptr<TenantUsage> usage;
};

class TenantDirectory {
 public:
  explicit TenantDirectory(std::vector<Tenant> tenants) : tenants_(std::move(tenants)) {}

  const Tenant* Find(std::string_view name) const;
  // The tenant named `user` when `password` is its password (compared in constant time);
  // nullptr otherwise.
  const Tenant* Login(std::string_view user, std::string_view password) const;

 private:
  std::vector<Tenant> tenants_;
};

// The node's meters of every tenant, by id, its login counts, and which client addresses
// failed to log in too often (net::FailureLimiter).
class TenantRegistry {
 public:
  explicit TenantRegistry(base::Registry& metrics);

  // The directory of `tenants` (a map's), with their meters.
  std::shared_ptr<const TenantDirectory> DirectoryOf(
      const std::vector<master::TenantState>& tenants);

  // trellis_tenant_logins_total{result="success"|"failure"}.
  base::Counter& logins(bool succeeded) { return succeeded ? logins_ok_ : logins_failed_; }
  // trellis_tenant_logins_total{result="throttled"}: refused unchecked.
  base::Counter& throttled() { return logins_throttled_; }
  net::FailureLimiter& failures() { return failures_; }

 private:
  base::Registry& metrics_;
  base::Counter& logins_ok_;
  base::Counter& logins_failed_;
  base::Counter& logins_throttled_;
  net::FailureLimiter failures_;
  std::mutex mutex_;
  std::map<uint64_t, std::shared_ptr<TenantUsage>> usage_;  // Guarded by mutex_.
};

}  // namespace trellis::access
