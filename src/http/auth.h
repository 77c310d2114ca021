// Bearer tokens on Trellis's HTTP APIs (docs/security.md): the scope a route needs, the
// grant a token carries, and the Authenticator that turns a request's Authorization
// header into a grant. The Router (http/router.h) asks it before running any route that
// needs a scope; which Authenticator a daemon uses is its composition root's choice (the
// master checks its own token table; a daemon with a master asks the master).
//
// Scopes are ordered: admin allows what operate allows, which allows what read allows.
//   read     GET of state: maps, status, metrics
//   operate  changes of the cluster's state: registrations, failovers, rebalances,
//            a gateway's servers
//   admin    credentials: creating, listing and revoking tokens
//
// Header-only (so the fuzz build and the master's API types use it without linking HTTP).
//
// Thread safety: Authenticate may run on any thread, several at once.
#pragma once

#include <string>
#include <string_view>

#include <boost/algorithm/string/predicate.hpp>
#include <boost/asio/awaitable.hpp>

#include "base/result.h"

namespace trellis::http {

enum class Scope { kRead, kOperate, kAdmin };

// "read", "operate", "admin". Inline, as ParseScope, for the master's API types
// (master/client/cluster_state.h), which link no HTTP.
inline std::string_view ScopeName(Scope scope) {
  switch (scope) {
    case Scope::kRead:
      return "read";
    case Scope::kOperate:
      return "operate";
    case Scope::kAdmin:
      break;
  }
  return "admin";
}
inline base::Result<Scope> ParseScope(std::string_view name) {
  for (Scope scope : {Scope::kRead, Scope::kOperate, Scope::kAdmin}) {
    if (name == ScopeName(scope)) {
      return scope;
    }
  }
  return base::InvalidArgument("unknown scope \"" + std::string(name) +
                               "\" (read, operate or admin)");
}
inline bool Allows(Scope granted, Scope needed) { return granted >= needed; }

// What a request's credential allows, and whose it is.
struct Grant {
  std::string token_id;  // Empty when the API takes no tokens (every request is admin).
  std::string name;      // The token's name, for logs and `trellis token list`.
  Scope scope = Scope::kAdmin;
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // `authorization`: the request's Authorization header ("" when it has none). A grant,
  // or kUnauthenticated (no token, a malformed header, a token nobody issued or one
  // revoked) or kUnavailable (the authority could not be asked).
  virtual boost::asio::awaitable<base::Result<Grant>> Authenticate(
      std::string_view authorization) = 0;
};

// The token of an Authorization header "Bearer TOKEN" (the scheme case-insensitive);
// kUnauthenticated when there is none or the header is malformed.
inline base::Result<std::string_view> BearerToken(std::string_view authorization) {
  if (authorization.empty()) {
    return base::Unauthenticated("this call needs a token (Authorization: Bearer TOKEN)");
  }
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size() ||
      !boost::algorithm::istarts_with(authorization, kScheme)) {
    return base::Unauthenticated("the Authorization header must be \"Bearer TOKEN\"");
  }
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') {
    token.remove_prefix(1);
  }
  while (!token.empty() && token.back() == ' ') {
    token.remove_suffix(1);
  }
  if (token.empty()) {
    return base::Unauthenticated("the Authorization header must be \"Bearer TOKEN\"");
  }
  return token;
}

}  // namespace trellis::http
