#include "master/client/master_authenticator.h"

#include <boost/asio/this_coro.hpp>

namespace trellis::master {

namespace asio = boost::asio;

asio::awaitable<base::Result<http::Grant>> MasterAuthenticator::Authenticate(
    std::string_view authorization) {
  const std::string key(authorization);
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    const auto found = answers_.find(key);
    if (found != answers_.end() && found->second.expires > now) {
      co_return found->second.grant;
    }
  }
  std::string token;
  if (!authorization.empty()) {
    TRELLIS_CO_TRY(const std::string_view bearer, http::BearerToken(authorization));
    token = bearer;
  }
  const MasterAccess access{master_.url, token, master_.tls};  // Named: g++ 12 and co_await.
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  TRELLIS_CO_TRY(MasterClient client, MasterClient::ForUrl(executor, access));
  base::Result<CallerGrant> asked = co_await client.Whoami();
  base::Result<http::Grant> grant = base::Unavailable("");
  if (asked) {
    grant = http::Grant{asked->token.id, asked->token.name, asked->token.scope};
  } else if (asked.error().code == base::ErrorCode::kUnauthenticated) {
    grant = asked.error();
  } else {
    co_return base::Unavailable("the master could not check the token: " + asked.error().message);
  }
  std::lock_guard lock(mutex_);
  if (answers_.size() >= kMaxRemembered) {
    std::erase_if(answers_, [now](const auto& entry) { return entry.second.expires <= now; });
  }
  if (answers_.size() < kMaxRemembered) {
    answers_.insert_or_assign(key, Answer{grant, now + kGrantLifetime});
  }
  co_return grant;
}

}  // namespace trellis::master
