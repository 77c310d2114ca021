#include "access/tenant_directory.h"

#include <algorithm>

#include "security/access_token.h"

namespace trellis::access {

TenantUsage::TenantUsage(base::Registry& metrics, const std::string& tenant)
    : requests_(metrics.GetCounter("trellis_tenant_requests_total",
                                   "Requests of each tenant this access node took.",
                                   {{"tenant", tenant}})),
      refused_(metrics.GetCounter("trellis_tenant_refused_total",
                                  "Requests of each tenant refused for its rate.",
                                  {{"tenant", tenant}, {"reason", "rate"}})),
      bytes_in_(metrics.GetCounter("trellis_tenant_bytes_total",
                                   "Bytes of each tenant's requests and replies.",
                                   {{"tenant", tenant}, {"direction", "in"}})),
      bytes_out_(metrics.GetCounter("trellis_tenant_bytes_total",
                                    "Bytes of each tenant's requests and replies.",
                                    {{"tenant", tenant}, {"direction", "out"}})) {}

bool TenantUsage::Admit(uint64_t ops_per_second, std::chrono::steady_clock::time_point now) {
  if (ops_per_second == 0) {
    requests_.Increment();
    return true;
  }
  const int64_t now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  const int64_t interval_ns = std::max<int64_t>(1, 1'000'000'000 / ops_per_second);
  int64_t next = next_ns_.load(std::memory_order_relaxed);
  for (;;) {
    const int64_t start = std::max(next, now_ns);
    if (start - now_ns >= kBurstNs) {
      refused_.Increment();
      return false;
    }
    if (next_ns_.compare_exchange_weak(next, start + interval_ns, std::memory_order_relaxed)) {
      requests_.Increment();
      return true;
    }
  }
}

std::chrono::nanoseconds TenantUsage::Penalty(uint64_t ops_per_second, size_t refused) {
  return std::chrono::nanoseconds(1'000'000'000 / std::max<uint64_t>(1, ops_per_second)) *
         static_cast<int64_t>(refused);
}

const Tenant* TenantDirectory::Find(std::string_view name) const {
  const auto it = std::ranges::find(
      tenants_, name, [](const Tenant& tenant) -> const std::string& { return tenant.state.name; });
  return it == tenants_.end() ? nullptr : &*it;
}

const Tenant* TenantDirectory::Login(std::string_view user, std::string_view password) const {
  const Tenant* tenant = Find(user);
  if (tenant == nullptr || !security::SecretHashMatches(tenant->state.password_sha256, password)) {
    return nullptr;
  }
  return tenant;
}

TenantRegistry::TenantRegistry(base::Registry& metrics)
    : metrics_(metrics),
      logins_ok_(metrics.GetCounter("trellis_tenant_logins_total",
                                    "Tenant logins on the memcached port, by result.",
                                    {{"result", "success"}})),
      logins_failed_(metrics.GetCounter("trellis_tenant_logins_total",
                                        "Tenant logins on the memcached port, by result.",
                                        {{"result", "failure"}})),
      logins_throttled_(metrics.GetCounter("trellis_tenant_logins_total",
                                           "Tenant logins on the memcached port, by result.",
                                           {{"result", "throttled"}})) {}

std::shared_ptr<const TenantDirectory> TenantRegistry::DirectoryOf(
    const std::vector<master::TenantState>& tenants) {
  std::vector<Tenant> entries;
  entries.reserve(tenants.size());
  std::lock_guard lock(mutex_);
  for (const master::TenantState& state : tenants) {
    std::shared_ptr<TenantUsage>& usage = usage_[state.id];
    if (!usage) {
      usage = std::make_shared<TenantUsage>(metrics_, state.name);
    }
    entries.push_back({state, state.KeyPrefix(), usage});
  }
  return std::make_shared<const TenantDirectory>(std::move(entries));
}

}  // namespace trellis::access
