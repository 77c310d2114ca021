#include "up/daemon_token.h"

#include <spdlog/spdlog.h>

#include <string>

#include <boost/algorithm/string/trim.hpp>

#include "base/file.h"
#include "security/access_token.h"

namespace trellis::up {

base::Status RenewDaemonToken(const master::MasterAccess& admin,
                              const std::filesystem::path& file) {
  std::string previous;
  std::error_code missing;
  if (std::filesystem::exists(file, missing)) {
    TRELLIS_TRY(previous, base::ReadFile(file));
    boost::algorithm::trim(previous);
  }
  const master::TokenRequest request{"trellis-up-daemons", http::Scope::kOperate};
  TRELLIS_TRY(
      const master::IssuedToken issued,
      master::CallMaster<base::Result<master::IssuedToken>>(
          admin, [&](master::MasterClient& client) { return client.CreateToken(request); }));
  TRELLIS_TRY_STATUS(base::ReplaceSecretFile(file, issued.token + "\n"));
  const base::Result<security::TokenParts> old = security::SplitToken(previous);
  if (!old) {
    return {};  // None before (or not one of ours): nothing to revoke.
  }
  const std::string id(old->id);
  const base::Status revoked = master::CallMaster<base::Status>(
      admin, [&](master::MasterClient& client) { return client.RevokeToken(id); });
  if (!revoked.ok() && revoked.error().code != base::ErrorCode::kNotFound) {
    spdlog::warn("revoking the children's previous token {}: {}", id, revoked.error().message);
  }
  return {};
}

}  // namespace trellis::up
