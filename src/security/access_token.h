// Access tokens: the bearer credentials of Trellis's HTTP APIs (http/auth.h,
// docs/security.md). A token reads
//
//   trellis_<id>_<secret>      id: 16 hex digits; secret: 64 hex digits (32 random bytes)
//
// The id names the token in lists, logs and refusals and is no secret; the secret is
// what proves it. The master keeps only the SHA-256 of the secret (TokenRecord), so its
// store, a backup of it or `GET /v1/tokens` never hold a usable token; the token itself
// is shown once, when it is minted. 256 random bits need no salt nor slow hash: no
// guess can be checked offline faster than it can be made.
//
// Thread safety: none; plain values and pure functions (MintToken draws from OpenSSL's
// thread-safe generator).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"
#include "http/auth.h"

namespace trellis::security {

// A token as the master stores it.
struct TokenRecord {
  std::string id;
  std::string name;  // Chosen by whoever created it ("grafana", "bootstrap").
  http::Scope scope = http::Scope::kRead;
  std::string secret_sha256;  // 64 hex digits.
  int64_t created_unix = 0;
};

struct MintedToken {
  TokenRecord record;
  std::string token;  // The whole "trellis_<id>_<secret>", for its holder only.
};

// A new token with fresh random id and secret.
base::Result<MintedToken> MintToken(std::string name, http::Scope scope);

// The record of a token an operator made up front (the master's --admin-token-file):
// kInvalidArgument unless `token` has the form above.
base::Result<MintedToken> AdoptToken(std::string token, std::string name, http::Scope scope);

struct TokenParts {
  std::string_view id;
  std::string_view secret;
};
// The id and secret of a token; kUnauthenticated "malformed token" for anything else.
base::Result<TokenParts> SplitToken(std::string_view token);

// Whether `secret` is the one `record` was made from, in time that does not depend on
// where they differ.
bool SecretMatches(const TokenRecord& record, std::string_view secret);

// Secrets of other credentials (the cache tenants' passwords) made and kept the same way:
// 32 random bytes as 64 hex digits, of which only the SHA-256 (hex) is stored.
struct MintedSecret {
  std::string secret;
  std::string sha256_hex;
};
base::Result<MintedSecret> MintSecret();
// Whether `secret` hashes to `sha256_hex`, in time that does not depend on where they differ.
bool SecretHashMatches(std::string_view sha256_hex, std::string_view secret);

}  // namespace trellis::security
