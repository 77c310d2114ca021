#include "proto/mysql/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "proto/mysql/handshake.h"

namespace trellis::proto::mysql {
namespace {

// SHA1 of `a` and then `b`.
Sha1 Digest(std::string_view a, std::string_view b) {
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  Sha1 digest{};
  unsigned int length = 0;
  EVP_DigestInit_ex(context, EVP_sha1(), nullptr);
  EVP_DigestUpdate(context, a.data(), a.size());
  EVP_DigestUpdate(context, b.data(), b.size());
  EVP_DigestFinal_ex(context, digest.data(), &length);
  EVP_MD_CTX_free(context);
  return digest;
}

std::string_view View(const Sha1& digest) {
  return {reinterpret_cast<const char*>(digest.data()), digest.size()};
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

Sha1 PasswordSha1(std::string_view password) { return Digest(password, {}); }

Sha1 StoredHash(const Sha1& password_sha1) { return Digest(View(password_sha1), {}); }

std::string FormatStoredHash(const Sha1& stored) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string text = "*";
  for (const uint8_t byte : stored) {
    text.push_back(kHex[byte >> 4]);
    text.push_back(kHex[byte & 0xF]);
  }
  return text;
}

std::optional<Sha1> ParseStoredHash(std::string_view text) {
  if (text.size() != 41 || text[0] != '*') {
    return std::nullopt;
  }
  Sha1 stored{};
  for (size_t i = 0; i < stored.size(); ++i) {
    const int high = HexDigit(text[1 + 2 * i]);
    const int low = HexDigit(text[2 + 2 * i]);
    if (high < 0 || low < 0) {
      return std::nullopt;
    }
    stored[i] = static_cast<uint8_t>(high << 4 | low);
  }
  return stored;
}

std::string NativePasswordAnswer(const Sha1& password_sha1, std::string_view nonce) {
  const Sha1 mask = Digest(nonce.substr(0, kNonceBytes), View(StoredHash(password_sha1)));
  std::string answer(mask.size(), '\0');
  for (size_t i = 0; i < mask.size(); ++i) {
    answer[i] = static_cast<char>(password_sha1[i] ^ mask[i]);
  }
  return answer;
}

std::optional<Sha1> CheckNativePassword(const Sha1& stored, std::string_view nonce,
                                        std::string_view answer) {
  if (answer.size() != stored.size()) {
    return std::nullopt;
  }
  const Sha1 mask = Digest(nonce.substr(0, kNonceBytes), View(stored));
  Sha1 candidate{};
  for (size_t i = 0; i < candidate.size(); ++i) {
    candidate[i] = static_cast<uint8_t>(static_cast<uint8_t>(answer[i]) ^ mask[i]);
  }
  const Sha1 check = StoredHash(candidate);
  if (CRYPTO_memcmp(check.data(), stored.data(), stored.size()) != 0) {
    return std::nullopt;
  }
  return candidate;
}

}  // namespace trellis::proto::mysql
