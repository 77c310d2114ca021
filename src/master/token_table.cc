#include "master/token_table.h"

#include <spdlog/spdlog.h>

namespace trellis::master {

namespace {

constexpr char kFailures[] = "trellis_auth_failures_total";
constexpr char kFailuresHelp[] =
    "requests refused for their token: missing, malformed, or unknown (not issued, revoked, "
    "wrong secret)";

}  // namespace

TokenTable::TokenTable(base::Registry& metrics)
    : missing_(metrics.GetCounter(kFailures, kFailuresHelp, {{"reason", "missing"}})),
      malformed_(metrics.GetCounter(kFailures, kFailuresHelp, {{"reason", "malformed"}})),
      unknown_(metrics.GetCounter(kFailures, kFailuresHelp, {{"reason", "unknown"}})) {}

void TokenTable::Put(security::TokenRecord record) {
  std::lock_guard lock(mutex_);
  std::string id = record.id;
  by_id_.insert_or_assign(std::move(id), std::move(record));
}

bool TokenTable::Remove(const std::string& id) {
  std::lock_guard lock(mutex_);
  return by_id_.erase(id) > 0;
}

std::vector<security::TokenRecord> TokenTable::List() const {
  std::lock_guard lock(mutex_);
  std::vector<security::TokenRecord> records;
  for (const auto& [id, record] : by_id_) {
    records.push_back(record);
  }
  return records;
}

boost::asio::awaitable<base::Result<http::Grant>> TokenTable::Authenticate(
    std::string_view authorization) {
  co_return Check(authorization);
}

base::Result<http::Grant> TokenTable::Check(std::string_view authorization) {
  base::Result<std::string_view> token = http::BearerToken(authorization);
  if (!token) {
    (authorization.empty() ? missing_ : malformed_).Increment();
    return token.error();
  }
  base::Result<security::TokenParts> parts = security::SplitToken(*token);
  if (!parts) {
    malformed_.Increment();
    return parts.error();
  }
  std::unique_lock lock(mutex_);
  const auto found = by_id_.find(std::string(parts->id));
  if (found != by_id_.end() && security::SecretMatches(found->second, parts->secret)) {
    return http::Grant{found->second.id, found->second.name, found->second.scope};
  }
  const bool known = found != by_id_.end();
  unknown_.Increment();
  const auto now = std::chrono::steady_clock::now();
  if (now - logged_at_ < kLogInterval) {
    ++unlogged_;
  } else {
    spdlog::warn("refused token {}: {} (and {} other tokens since the last such line)", parts->id,
                 known ? "wrong secret" : "no such token", unlogged_);
    logged_at_ = now;
    unlogged_ = 0;
  }
  return base::Unauthenticated("token " + std::string(parts->id) +
                               " is not valid (revoked, or never issued here)");
}

}  // namespace trellis::master
