// MasterAuthenticator: checks the tokens of requests to a daemon's own APIs (its admin
// endpoint, the gateway's runtime API, the backup center's API) by asking the master
// (GET /v1/tokens/self with the caller's token), so that every token the master issues
// or revokes holds on every daemon of the cluster. A master that takes no tokens makes
// every caller admin here too.
//
// Answers are kept for kGrantLifetime (valid tokens and refused ones alike), so a busy
// API asks the master once per token every few seconds and a revoked token stops working
// everywhere within that time. While the master cannot be reached, a request with a token
// not in that memory is refused with 503 (never let in unchecked).
//
// Thread safety: Authenticate may run on any thread, several at once.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "http/auth.h"
#include "master/client/master_client.h"

namespace trellis::master {

class MasterAuthenticator : public http::Authenticator {
 public:
  static constexpr std::chrono::seconds kGrantLifetime{5};
  // Keeps at most this many answers (a flood of made-up tokens would grow it forever).
  static constexpr size_t kMaxRemembered = 4096;

  // `master`: its token is not used (each call carries the caller's).
  explicit MasterAuthenticator(MasterAccess master) : master_(std::move(master)) {}

  boost::asio::awaitable<base::Result<http::Grant>> Authenticate(
      std::string_view authorization) override;

 private:
  struct Answer {
    base::Result<http::Grant> grant;
    std::chrono::steady_clock::time_point expires;
  };

  const MasterAccess master_;
  std::mutex mutex_;
  std::map<std::string, Answer> answers_;  // By Authorization header. Guarded by mutex_.
};

}  // namespace trellis::master
