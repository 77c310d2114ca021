// TokenService: the master's access tokens (docs/security.md): the /v1/tokens API, the
// first admin token, and the TokenTable that checks every request's token.
//
// The master takes tokens when it is given an admin token file (--admin-token-file):
// a file that exists holds the admin token an operator chose (or an earlier start
// wrote), which is added to the store if it is not there; a file that does not exist is
// written (mode 0600) with a new admin token. Without one the master takes no tokens:
// every call is allowed, as before tokens existed, and /v1/tokens refuses to mint any.
//
// API (http/auth.h for the scopes):
//   POST   /v1/tokens        {"name": "...", "scope": "read"|"operate"|"admin"} ->
//                            {"id", "name", "scope", "created_unix", "token"}   admin
//   GET    /v1/tokens        {"tokens": [{"id", "name", "scope", "created_unix"}]} admin
//   DELETE /v1/tokens/ID     revokes it at once (204; 404 if there is none)      admin
//   GET    /v1/tokens/self   the caller's own token, and whether tokens are required
//                            (CallerGrant); how other daemons check a token      read
//
// Thread safety: the master's thread, except table(), which is thread-safe.
#pragma once

#include <memory>
#include <string>

#include "base/metrics.h"
#include "base/result.h"
#include "http/router.h"
#include "master/map_store.h"
#include "master/token_table.h"

namespace trellis::master {

class TokenService {
 public:
  // `admin_token_file` empty: the master takes no tokens. REQUIRES: `store` outlives it.
  static base::Result<std::unique_ptr<TokenService>> Open(MapStore& store,
                                                          const std::string& admin_token_file,
                                                          base::Registry& metrics);

  // Checks tokens; null when the master takes none.
  std::shared_ptr<TokenTable> table() const { return required_ ? table_ : nullptr; }
  void AddRoutes(http::Router& router);
  // Reads every token from the store again: another master of the cluster (etcd) may
  // have created or revoked some.
  base::Status Reload();

 private:
  TokenService(MapStore& store, bool required, base::Registry& metrics)
      : store_(store), required_(required), table_(std::make_shared<TokenTable>(metrics)) {}
  base::Status Bootstrap(const std::string& admin_token_file);

  boost::asio::awaitable<http::Response> Create(const http::Request& request);
  boost::asio::awaitable<http::Response> List(const http::Request& request);
  boost::asio::awaitable<http::Response> Revoke(const http::Request& request);
  boost::asio::awaitable<http::Response> Self(const http::Request& request);

  MapStore& store_;
  const bool required_;
  const std::shared_ptr<TokenTable> table_;
};

}  // namespace trellis::master
