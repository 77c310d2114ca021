// mysql_native_password (MariaDB's default authentication plugin): the server sends a
// 20-byte nonce; the client answers SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password))).
// The server stores only SHA1(SHA1(password)) (the "*HEX" of mysql.user), checks the
// answer with it, and learns SHA1(password) on the way: what the proxy needs to log in to
// the database as the same user without ever holding the password (ProxySQL does the
// same).
//
// Thread safety: pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace trellis::proto::mysql {

inline constexpr std::string_view kNativePassword = "mysql_native_password";

using Sha1 = std::array<uint8_t, 20>;

// SHA1(password): what the client proves it knows.
Sha1 PasswordSha1(std::string_view password);
// SHA1(SHA1(password)): what the server keeps.
Sha1 StoredHash(const Sha1& password_sha1);
// The "*" and 40 upper-case hex digits MariaDB shows (PASSWORD('x'), mysql.user).
std::string FormatStoredHash(const Sha1& stored);
// Parses that form; nullopt if it is not one.
std::optional<Sha1> ParseStoredHash(std::string_view text);

// The client's answer to `nonce` (20 bytes).
std::string NativePasswordAnswer(const Sha1& password_sha1, std::string_view nonce);
// Checks a client's answer against the stored hash; on success, SHA1(password).
std::optional<Sha1> CheckNativePassword(const Sha1& stored, std::string_view nonce,
                                        std::string_view answer);

}  // namespace trellis::proto::mysql
