// mysql_native_password (auth.h): the stored hash MariaDB's PASSWORD() shows, the
// client's answer to a nonce, and the check that recovers SHA1(password) from it. Known
// values come from a MariaDB 10.11 server and the mariadb client.
#include "proto/mysql/auth.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "testing/hex.h"

namespace trellis::proto::mysql {
namespace {

using testing::FromHex;

std::string View(const Sha1& digest) {
  return {reinterpret_cast<const char*>(digest.data()), digest.size()};
}

// Logins captured between the mariadb client (3.3.20) and MariaDB 10.11.19: the greeting's
// nonce and the client's answer, for the password "secret" (accepted) and for "wrong"
// (refused: the user's password is "secret").
constexpr std::string_view kSecretNonceHex = "3e48315a5473672c444f413731303d222f663574";
constexpr std::string_view kSecretAnswerHex = "72a39e3dbe0c3bd27defec12856b2a5f2e1e21b6";
constexpr std::string_view kWrongNonceHex = "2a4a7635443579264d335637506e584f60775523";
constexpr std::string_view kWrongAnswerHex = "dd9efc16761eb1575154cb8094486a264777e77b";

TEST(AuthTest, StoredHashesAreThoseOfMariaDbsPasswordFunction) {
  // SELECT PASSWORD('secret'), PASSWORD('a'), PASSWORD('pass word ü') on MariaDB 10.11.
  EXPECT_EQ(FormatStoredHash(StoredHash(PasswordSha1("secret"))),
            "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7");
  EXPECT_EQ(FormatStoredHash(StoredHash(PasswordSha1("a"))),
            "*667F407DE7C6AD07358FA38DAED7828A72014B4E");
  EXPECT_EQ(FormatStoredHash(StoredHash(PasswordSha1("pass word \xC3\xBC"))),
            "*F8D25BA842FC38498622F3D85448033A9F6738AA");
}

TEST(AuthTest, PasswordSha1IsPlainSha1) {
  EXPECT_EQ(View(PasswordSha1("abc")), FromHex("a9993e364706816aba3e25717850c26c9cd0d89d"));
}

TEST(AuthTest, StoredHashesParseInEitherCase) {
  const Sha1 stored = StoredHash(PasswordSha1("secret"));
  const auto upper = ParseStoredHash("*14E65567ABDB5135D0CFD9A70B3032C179A49EE7");
  ASSERT_TRUE(upper.has_value());
  EXPECT_EQ(*upper, stored);
  const auto lower = ParseStoredHash("*14e65567abdb5135d0cfd9a70b3032c179a49ee7");
  ASSERT_TRUE(lower.has_value());
  EXPECT_EQ(*lower, stored);
  EXPECT_EQ(ParseStoredHash(FormatStoredHash(stored)), stored);
}

TEST(AuthTest, WhatIsNotAStoredHashIsRefused) {
  EXPECT_FALSE(ParseStoredHash(""));
  EXPECT_FALSE(ParseStoredHash("14E65567ABDB5135D0CFD9A70B3032C179A49EE7"));    // No "*".
  EXPECT_FALSE(ParseStoredHash("*14E65567ABDB5135D0CFD9A70B3032C179A49EE"));    // 39 digits.
  EXPECT_FALSE(ParseStoredHash("*14E65567ABDB5135D0CFD9A70B3032C179A49EE70"));  // 41 digits.
  EXPECT_FALSE(ParseStoredHash("*14E65567ABDB5135D0CFD9A70B3032C179A49EEG"));   // Not hex.
  EXPECT_FALSE(ParseStoredHash("#14E65567ABDB5135D0CFD9A70B3032C179A49EE7"));
}

TEST(AuthTest, TheAnswerIsTheMariaDbClients) {
  EXPECT_EQ(NativePasswordAnswer(PasswordSha1("secret"), FromHex(kSecretNonceHex)),
            FromHex(kSecretAnswerHex));
  EXPECT_EQ(NativePasswordAnswer(PasswordSha1("wrong"), FromHex(kWrongNonceHex)),
            FromHex(kWrongAnswerHex));
}

TEST(AuthTest, ARealClientsAnswerRecoversThePasswordSha1) {
  const Sha1 stored = StoredHash(PasswordSha1("secret"));
  const auto recovered =
      CheckNativePassword(stored, FromHex(kSecretNonceHex), FromHex(kSecretAnswerHex));
  ASSERT_TRUE(recovered.has_value());
  EXPECT_EQ(*recovered, PasswordSha1("secret"));
}

TEST(AuthTest, ARealClientsWrongPasswordIsRefused) {
  EXPECT_FALSE(CheckNativePassword(StoredHash(PasswordSha1("secret")), FromHex(kWrongNonceHex),
                                   FromHex(kWrongAnswerHex))
                   .has_value());
  // The same answer against the nonce of another greeting.
  EXPECT_FALSE(CheckNativePassword(StoredHash(PasswordSha1("secret")), FromHex(kWrongNonceHex),
                                   FromHex(kSecretAnswerHex))
                   .has_value());
}

TEST(AuthTest, AnswerAndCheckRoundTrip) {
  const std::string nonce = "0123456789abcdefghij";
  for (const std::string_view password : {"x", "secret", "a much longer password than most"}) {
    const Sha1 sha1 = PasswordSha1(password);
    const std::string answer = NativePasswordAnswer(sha1, nonce);
    EXPECT_EQ(answer.size(), 20u);
    const auto recovered = CheckNativePassword(StoredHash(sha1), nonce, answer);
    ASSERT_TRUE(recovered.has_value()) << password;
    EXPECT_EQ(*recovered, sha1);
  }
}

TEST(AuthTest, AWrongAnswerIsRefused) {
  const std::string nonce = "0123456789abcdefghij";
  const Sha1 stored = StoredHash(PasswordSha1("secret"));
  const std::string answer = NativePasswordAnswer(PasswordSha1("secret"), nonce);
  for (size_t i = 0; i < answer.size(); ++i) {
    std::string flipped = answer;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x01);
    EXPECT_FALSE(CheckNativePassword(stored, nonce, flipped).has_value()) << i;
  }
  EXPECT_FALSE(CheckNativePassword(stored, nonce, answer.substr(0, 19)).has_value());
  EXPECT_FALSE(CheckNativePassword(stored, nonce, answer + "x").has_value());
  EXPECT_FALSE(CheckNativePassword(stored, nonce, "").has_value());
  EXPECT_FALSE(CheckNativePassword(StoredHash(PasswordSha1("Secret")), nonce, answer).has_value());
  EXPECT_FALSE(CheckNativePassword(stored, "0123456789abcdefghiJ", answer).has_value());
}

TEST(AuthTest, OnlyTheNoncesFirst20BytesCount) {
  // A greeting's nonce as some servers send it, with its NUL.
  const std::string nonce = "0123456789abcdefghij";
  const Sha1 sha1 = PasswordSha1("secret");
  EXPECT_EQ(NativePasswordAnswer(sha1, nonce + std::string(1, '\0')),
            NativePasswordAnswer(sha1, nonce));
  EXPECT_TRUE(CheckNativePassword(StoredHash(sha1), nonce + std::string(1, '\0'),
                                  NativePasswordAnswer(sha1, nonce))
                  .has_value());
}

}  // namespace
}  // namespace trellis::proto::mysql
