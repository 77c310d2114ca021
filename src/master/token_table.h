// TokenTable: the master's access tokens (security/access_token.h) in memory, and the
// Authenticator (http/auth.h) of the master's API and admin endpoint. The master loads it
// from its store at start and changes the two together, the store first.
//
// Failed authentications are counted in trellis_auth_failures_total{reason="missing"|
// "malformed"|"unknown"} (no token; not a Trellis token; an id nobody holds, a wrong
// secret or a revoked token). Unknown tokens are logged by id only (never a secret), at
// most one line per kLogInterval with how many were refused since, so a flood of bad
// tokens cannot fill the disk.
//
// Thread safety: everything; the API's thread changes it while the admin endpoint's
// thread reads it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/metrics.h"
#include "http/auth.h"
#include "security/access_token.h"

namespace trellis::master {

class TokenTable : public http::Authenticator {
 public:
  static constexpr std::chrono::seconds kLogInterval{10};

  explicit TokenTable(base::Registry& metrics);

  // Adds `record`, or replaces the one with its id.
  void Put(security::TokenRecord record);
  // False if no token has that id.
  bool Remove(const std::string& id);
  std::vector<security::TokenRecord> List() const;

  boost::asio::awaitable<base::Result<http::Grant>> Authenticate(
      std::string_view authorization) override;
  // The same, at once: for callers that are not coroutines.
  base::Result<http::Grant> Check(std::string_view authorization);

 private:
  base::Counter& missing_;
  base::Counter& malformed_;
  base::Counter& unknown_;
  mutable std::mutex mutex_;
  std::map<std::string, security::TokenRecord> by_id_;  // Guarded by mutex_.
  // Guarded by mutex_: when the last refusal was logged, and those refused since.
  std::chrono::steady_clock::time_point logged_at_{};
  uint64_t unlogged_ = 0;
};

}  // namespace trellis::master
