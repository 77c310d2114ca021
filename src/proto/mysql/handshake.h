// The MySQL connection phase (MariaDB's "Connection" pages): the server's greeting
// (Initial Handshake Packet, protocol 10), the client's answer (Handshake Response 41, or
// the 32-byte SSL Request that asks for TLS before it), and the server's Auth Switch
// Request. Parsers and encoders of the payloads; framing is packet.h's.
//
// Only the 4.1 protocol is spoken (CLIENT_PROTOCOL_41 is required of clients, as every
// client of the last twenty years sets it). MariaDB's extended capabilities (the four
// bytes a MariaDB server puts in the greeting's filler) are not used: the proxy
// announces itself as a MySQL-protocol server without them.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace trellis::proto::mysql {

// Capability flags (the lower and upper 16 bits of the greeting's and response's).
namespace capability {
inline constexpr uint32_t kLongPassword = 1u << 0;
inline constexpr uint32_t kFoundRows = 1u << 1;
inline constexpr uint32_t kLongFlag = 1u << 2;
inline constexpr uint32_t kConnectWithDb = 1u << 3;
inline constexpr uint32_t kNoSchema = 1u << 4;
inline constexpr uint32_t kCompress = 1u << 5;
inline constexpr uint32_t kOdbc = 1u << 6;
inline constexpr uint32_t kLocalFiles = 1u << 7;
inline constexpr uint32_t kIgnoreSpace = 1u << 8;
inline constexpr uint32_t kProtocol41 = 1u << 9;
inline constexpr uint32_t kInteractive = 1u << 10;
inline constexpr uint32_t kSsl = 1u << 11;
inline constexpr uint32_t kIgnoreSigpipe = 1u << 12;
inline constexpr uint32_t kTransactions = 1u << 13;
inline constexpr uint32_t kReserved = 1u << 14;
inline constexpr uint32_t kSecureConnection = 1u << 15;
inline constexpr uint32_t kMultiStatements = 1u << 16;
inline constexpr uint32_t kMultiResults = 1u << 17;
inline constexpr uint32_t kPsMultiResults = 1u << 18;
inline constexpr uint32_t kPluginAuth = 1u << 19;
inline constexpr uint32_t kConnectAttrs = 1u << 20;
inline constexpr uint32_t kPluginAuthLenencData = 1u << 21;
inline constexpr uint32_t kCanHandleExpiredPasswords = 1u << 22;
inline constexpr uint32_t kSessionTrack = 1u << 23;
inline constexpr uint32_t kDeprecateEof = 1u << 24;
}  // namespace capability

// The scramble a server sends: 20 bytes, none of them NUL (clients stop at one).
inline constexpr size_t kNonceBytes = 20;
// The longest a greeting's one length byte can announce (with the NUL).
inline constexpr size_t kMaxNonceBytes = 254;

struct Greeting {
  std::string server_version;
  uint32_t connection_id = 0;
  std::string nonce;  // The auth plugin data: kNonceBytes for mysql_native_password.
  uint32_t capabilities = 0;
  uint8_t charset = 0;
  uint16_t status = 0;
  std::string auth_plugin;  // "mysql_native_password"; empty without kPluginAuth.
};

void AppendGreeting(std::string& payload, const Greeting& greeting);
// False if the payload is not a protocol-10 greeting that holds its announced fields.
bool ParseGreeting(std::string_view payload, Greeting* greeting);

struct HandshakeResponse {
  uint32_t capabilities = 0;
  uint32_t max_packet = 0;
  uint8_t charset = 0;
  std::string user;
  std::string auth_response;
  std::string database;  // With kConnectWithDb only.
  std::string auth_plugin;
  std::vector<std::pair<std::string, std::string>> attributes;  // With kConnectAttrs.
};

// The SSL Request: a client that wants TLS sends the first 32 bytes of its response
// with kSsl, then starts the TLS handshake, then sends the whole response encrypted.
inline constexpr size_t kSslRequestBytes = 32;
bool IsSslRequest(std::string_view payload);

void AppendHandshakeResponse(std::string& payload, const HandshakeResponse& response);
// False if the payload is not a 4.1 handshake response that holds its announced fields.
bool ParseHandshakeResponse(std::string_view payload, HandshakeResponse* response);

// The server's request to authenticate again with another plugin (first byte 0xFE).
struct AuthSwitch {
  std::string plugin;
  std::string data;  // The new nonce, without the trailing NUL some servers add.
};
bool ParseAuthSwitch(std::string_view payload, AuthSwitch* request);

}  // namespace trellis::proto::mysql
