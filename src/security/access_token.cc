#include "security/access_token.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <chrono>

namespace trellis::security {

namespace {

constexpr std::string_view kPrefix = "trellis_";
constexpr size_t kIdDigits = 16;
constexpr size_t kSecretDigits = 64;

bool IsHex(std::string_view text) {
  return text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

std::string Hex(const unsigned char* bytes, size_t size) {
  std::string hex;
  hex.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    hex += fmt::format("{:02x}", bytes[i]);
  }
  return hex;
}

std::array<unsigned char, SHA256_DIGEST_LENGTH> Sha256(std::string_view text) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest;
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
  return digest;
}

MintedToken Record(TokenParts parts, std::string token, std::string name, http::Scope scope) {
  const auto digest = Sha256(parts.secret);
  TokenRecord record{std::string(parts.id), std::move(name), scope,
                     Hex(digest.data(), digest.size()),
                     std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count()};
  return {std::move(record), std::move(token)};
}

}  // namespace

base::Result<TokenParts> SplitToken(std::string_view token) {
  const bool well_formed = token.size() == kPrefix.size() + kIdDigits + 1 + kSecretDigits &&
                           token.starts_with(kPrefix) && token[kPrefix.size() + kIdDigits] == '_';
  if (!well_formed) {
    return base::Unauthenticated("malformed token (trellis_<id>_<secret>)");
  }
  TokenParts parts{token.substr(kPrefix.size(), kIdDigits),
                   token.substr(kPrefix.size() + kIdDigits + 1)};
  if (!IsHex(parts.id) || !IsHex(parts.secret)) {
    return base::Unauthenticated("malformed token (trellis_<id>_<secret>)");
  }
  return parts;
}

base::Result<MintedToken> MintToken(std::string name, http::Scope scope) {
  std::array<unsigned char, kIdDigits / 2 + kSecretDigits / 2> random;
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    return base::Error{"minting a token: the random generator failed"};
  }
  const std::string id = Hex(random.data(), kIdDigits / 2);
  const std::string secret = Hex(random.data() + kIdDigits / 2, kSecretDigits / 2);
  OPENSSL_cleanse(random.data(), random.size());
  std::string token = std::string(kPrefix) + id + "_" + secret;
  return Record({id, secret}, std::move(token), std::move(name), scope);
}

base::Result<MintedToken> AdoptToken(std::string token, std::string name, http::Scope scope) {
  base::Result<TokenParts> parts = SplitToken(token);
  if (!parts) {
    return base::InvalidArgument(parts.error().message);
  }
  const std::string id(parts->id);  // Copies: `parts` views `token`, which moves.
  const std::string secret(parts->secret);
  return Record({id, secret}, std::move(token), std::move(name), scope);
}

bool SecretMatches(const TokenRecord& record, std::string_view secret) {
  return SecretHashMatches(record.secret_sha256, secret);
}

bool SecretHashMatches(std::string_view sha256_hex, std::string_view secret) {
  const auto digest = Sha256(secret);
  const std::string hex = Hex(digest.data(), digest.size());
  return hex.size() == sha256_hex.size() &&
         CRYPTO_memcmp(hex.data(), sha256_hex.data(), hex.size()) == 0;
}

base::Result<MintedSecret> MintSecret() {
  std::array<unsigned char, kSecretDigits / 2> random;
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    return base::Error{"minting a secret: the random generator failed"};
  }
  MintedSecret minted;
  minted.secret = Hex(random.data(), random.size());
  OPENSSL_cleanse(random.data(), random.size());
  const auto digest = Sha256(minted.secret);
  minted.sha256_hex = Hex(digest.data(), digest.size());
  return minted;
}

}  // namespace trellis::security
