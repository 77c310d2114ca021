// The connection phase (handshake.h): the server's greeting, the client's handshake
// response and SSL request, the server's auth switch request. Real MariaDB bytes (a
// 10.11 server's greeting, the mariadb client's response to it) and round trips of what
// the encoders write, with and without each optional field.
#include "proto/mysql/handshake.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "testing/hex.h"

namespace trellis::proto::mysql {
namespace {

using testing::FromHex;

// Captured on loopback between `mariadb -uroot -psecret shop` (client 3.3.20, "libmariadb")
// and MariaDB 10.11.19 (Debian 12), payloads without their packet headers.
// The server's greeting (connection 6).
constexpr std::string_view kMariaDbGreetingHex =
    "0a352e352e352d31302e31312e31392d4d6172696144422d302b6465623132753100060000003e48"
    "315a5473672c00fef7080200ff81150000000000001d000000444f413731303d222f663574006d79"
    "73716c5f6e61746976655f70617373776f726400";
// The client's handshake response to it.
constexpr std::string_view kMariaDbClientResponseHex =
    "8ca2bf000000100021000000000000000000000000000000000000001d000000726f6f74001472a3"
    "9e3dbe0c3bd27defec12856b2a5f2e1e21b673686f70006d7973716c5f6e61746976655f70617373"
    "776f7264007f035f6f73054c696e75780c5f636c69656e745f6e616d650a6c69626d617269616462"
    "045f7069640531363532380f5f636c69656e745f76657273696f6e06332e332e3230095f706c6174"
    "666f726d067838365f36340c70726f6772616d5f6e616d65056d7973716c0c5f7365727665725f68"
    "6f7374093132372e302e302e31";
// MariaDB 10.11.19's Auth Switch Request in answer to a COM_CHANGE_USER.
constexpr std::string_view kAuthSwitchHex =
    "fe6d7973716c5f6e61746976655f70617373776f7264006e2e386e43415b274e3459452b48685550"
    "716838"
    "00";

Greeting SampleGreeting() {
  Greeting greeting;
  greeting.server_version = "8.0.36-trellis";
  greeting.connection_id = 0x01020304;
  greeting.nonce = "abcdefghijklmnopqrst";
  greeting.capabilities = capability::kLongPassword | capability::kProtocol41 |
                          capability::kSecureConnection | capability::kPluginAuth |
                          capability::kTransactions | capability::kMultiResults;
  greeting.charset = 45;
  greeting.status = 0x0002;
  greeting.auth_plugin = "mysql_native_password";
  return greeting;
}

void ExpectSameGreeting(const Greeting& actual, const Greeting& expected) {
  EXPECT_EQ(actual.server_version, expected.server_version);
  EXPECT_EQ(actual.connection_id, expected.connection_id);
  EXPECT_EQ(actual.nonce, expected.nonce);
  EXPECT_EQ(actual.capabilities, expected.capabilities);
  EXPECT_EQ(actual.charset, expected.charset);
  EXPECT_EQ(actual.status, expected.status);
  EXPECT_EQ(actual.auth_plugin, expected.auth_plugin);
}

TEST(GreetingTest, ParsesARealMariaDbGreeting) {
  Greeting greeting;
  ASSERT_TRUE(ParseGreeting(FromHex(kMariaDbGreetingHex), &greeting));
  EXPECT_EQ(greeting.server_version, "5.5.5-10.11.19-MariaDB-0+deb12u1");
  EXPECT_EQ(greeting.connection_id, 6u);
  EXPECT_EQ(greeting.nonce, FromHex("3e48315a5473672c444f413731303d222f663574"));
  EXPECT_EQ(greeting.nonce.size(), kNonceBytes);
  EXPECT_EQ(greeting.capabilities, 0x81FFF7FEu);
  EXPECT_NE(greeting.capabilities & capability::kSecureConnection, 0u);
  EXPECT_NE(greeting.capabilities & capability::kPluginAuth, 0u);
  EXPECT_EQ(greeting.charset, 8);
  EXPECT_EQ(greeting.status, 0x0002);
  EXPECT_EQ(greeting.auth_plugin, "mysql_native_password");
}

TEST(GreetingTest, ReencodingARealGreetingChangesOnlyMariaDbsExtendedCapabilities) {
  const std::string real = FromHex(kMariaDbGreetingHex);
  Greeting greeting;
  ASSERT_TRUE(ParseGreeting(real, &greeting));
  std::string encoded;
  AppendGreeting(encoded, greeting);
  // MariaDB puts its extended capabilities in the last 4 of the 10 reserved bytes.
  std::string expected = real;
  const size_t reserved = 1 + greeting.server_version.size() + 1 + 4 + 8 + 1 + 2 + 1 + 2 + 2 + 1;
  expected.replace(reserved + 6, 4, std::string(4, '\0'));
  EXPECT_EQ(encoded, expected);
}

TEST(GreetingTest, RoundTripsWithTheWholeNonce) {
  const Greeting greeting = SampleGreeting();
  std::string payload;
  AppendGreeting(payload, greeting);
  Greeting parsed;
  ASSERT_TRUE(ParseGreeting(payload, &parsed));
  ExpectSameGreeting(parsed, greeting);
}

TEST(GreetingTest, RoundTripsWithoutAPluginName) {
  Greeting greeting = SampleGreeting();
  greeting.capabilities &= ~capability::kPluginAuth;
  greeting.auth_plugin.clear();
  std::string payload;
  AppendGreeting(payload, greeting);
  EXPECT_EQ(payload.back(), '\0');  // The nonce's NUL ends it.
  Greeting parsed;
  ASSERT_TRUE(ParseGreeting(payload, &parsed));
  ExpectSameGreeting(parsed, greeting);
}

// Per the protocol the nonce's second part is there only with CLIENT_SECURE_CONNECTION,
// and the plugin name follows what is there.
TEST(GreetingTest, AGreetingWithoutSecureConnectionKeepsItsPluginName) {
  Greeting greeting = SampleGreeting();
  greeting.capabilities &= ~capability::kSecureConnection;
  greeting.nonce = "abcdefgh";
  std::string payload;
  AppendGreeting(payload, greeting);
  Greeting parsed;
  ASSERT_TRUE(ParseGreeting(payload, &parsed));
  EXPECT_EQ(parsed.nonce, "abcdefgh");
  EXPECT_EQ(parsed.auth_plugin, "mysql_native_password");
}

TEST(GreetingTest, TheNoncesSecondPartIsAtLeast13BytesWhateverItsLengthByteSays) {
  // Servers without CLIENT_PLUGIN_AUTH may send 0 as the nonce's length.
  std::string payload = FromHex(kMariaDbGreetingHex);
  const size_t length_byte = 1 + 33 + 4 + 8 + 1 + 2 + 1 + 2 + 2;
  ASSERT_EQ(payload[length_byte], 21);
  payload[length_byte] = 0;
  Greeting greeting;
  ASSERT_TRUE(ParseGreeting(payload, &greeting));
  EXPECT_EQ(greeting.nonce, FromHex("3e48315a5473672c444f413731303d222f663574"));
  EXPECT_EQ(greeting.auth_plugin, "mysql_native_password");
}

TEST(GreetingTest, APluginNameEndedByThePayloadIsAccepted) {
  std::string payload = FromHex(kMariaDbGreetingHex);
  payload.pop_back();  // The plugin name's NUL.
  Greeting greeting;
  ASSERT_TRUE(ParseGreeting(payload, &greeting));
  EXPECT_EQ(greeting.auth_plugin, "mysql_native_password");
}

TEST(GreetingTest, APre41GreetingStopsAfterTheLowerCapabilities) {
  const std::string real = FromHex(kMariaDbGreetingHex);
  const size_t lower_end = 1 + 33 + 4 + 8 + 1 + 2;
  Greeting greeting;
  ASSERT_TRUE(ParseGreeting(real.substr(0, lower_end), &greeting));
  EXPECT_EQ(greeting.nonce, FromHex("3e48315a5473672c"));
  EXPECT_EQ(greeting.capabilities, 0xF7FEu);
  EXPECT_EQ(greeting.charset, 0);
  EXPECT_EQ(greeting.auth_plugin, "");
}

TEST(GreetingTest, ATruncatedGreetingIsRefused) {
  const std::string real = FromHex(kMariaDbGreetingHex);
  const size_t lower_end = 1 + 33 + 4 + 8 + 1 + 2;
  const size_t nonce_end = lower_end + 1 + 2 + 2 + 1 + 10 + 13;
  for (size_t size = 0; size < nonce_end; ++size) {
    if (size == lower_end) continue;
    Greeting greeting;
    EXPECT_FALSE(ParseGreeting(real.substr(0, size), &greeting)) << size;
  }
}

TEST(GreetingTest, OnlyProtocol10IsSpoken) {
  std::string payload = FromHex(kMariaDbGreetingHex);
  payload[0] = 9;
  Greeting greeting;
  EXPECT_FALSE(ParseGreeting(payload, &greeting));
  // A server that refuses the connection sends an ERR where the greeting would be.
  EXPECT_FALSE(ParseGreeting("\xFF\x10\x04Too many connections", &greeting));
}

HandshakeResponse SampleResponse(uint32_t extra_capabilities) {
  HandshakeResponse response;
  response.capabilities =
      capability::kProtocol41 | capability::kSecureConnection | extra_capabilities;
  response.max_packet = 16 * 1024 * 1024;
  response.charset = 33;
  response.user = "app";
  response.auth_response = std::string("\x00\x01\xFF scrambled answer!\x00", 21);
  response.database = "shop";
  response.auth_plugin = "mysql_native_password";
  response.attributes = {{"_client_name", "libmariadb"}, {"_pid", "1234"}, {"", ""}};
  return response;
}

TEST(HandshakeResponseTest, ParsesARealMariaDbClientResponse) {
  HandshakeResponse response;
  ASSERT_TRUE(ParseHandshakeResponse(FromHex(kMariaDbClientResponseHex), &response));
  EXPECT_EQ(response.capabilities, 0x00BFA28Cu);
  EXPECT_NE(response.capabilities & capability::kPluginAuthLenencData, 0u);
  EXPECT_NE(response.capabilities & capability::kConnectAttrs, 0u);
  EXPECT_EQ(response.capabilities & capability::kDeprecateEof, 0u);
  EXPECT_EQ(response.max_packet, 1024u * 1024);
  EXPECT_EQ(response.charset, 33);
  EXPECT_EQ(response.user, "root");
  EXPECT_EQ(response.auth_response, FromHex("72a39e3dbe0c3bd27defec12856b2a5f2e1e21b6"));
  EXPECT_EQ(response.database, "shop");
  EXPECT_EQ(response.auth_plugin, "mysql_native_password");
  const std::vector<std::pair<std::string, std::string>> attributes = {
      {"_os", "Linux"},
      {"_client_name", "libmariadb"},
      {"_pid", "16528"},
      {"_client_version", "3.3.20"},
      {"_platform", "x86_64"},
      {"program_name", "mysql"},
      {"_server_host", "127.0.0.1"}};
  EXPECT_EQ(response.attributes, attributes);
}

TEST(HandshakeResponseTest, ReencodingARealResponseChangesOnlyMariaDbsExtendedCapabilities) {
  const std::string real = FromHex(kMariaDbClientResponseHex);
  HandshakeResponse response;
  ASSERT_TRUE(ParseHandshakeResponse(real, &response));
  std::string encoded;
  AppendHandshakeResponse(encoded, response);
  // The client puts its extended capabilities in the last 4 of the 23 reserved bytes.
  std::string expected = real;
  expected.replace(9 + 19, 4, std::string(4, '\0'));
  EXPECT_EQ(encoded, expected);
}

TEST(HandshakeResponseTest, RoundTripsWithAndWithoutEachOptionalField) {
  const uint32_t optional[] = {capability::kConnectWithDb, capability::kPluginAuth,
                               capability::kConnectAttrs, capability::kPluginAuthLenencData};
  for (uint32_t mask = 0; mask < 16; ++mask) {
    uint32_t extra = 0;
    for (int bit = 0; bit < 4; ++bit) {
      if ((mask & (1u << bit)) != 0) extra |= optional[bit];
    }
    const HandshakeResponse response = SampleResponse(extra);
    std::string payload;
    AppendHandshakeResponse(payload, response);
    HandshakeResponse parsed;
    parsed.database = "stale";
    parsed.auth_plugin = "stale";
    parsed.attributes = {{"stale", "stale"}};
    ASSERT_TRUE(ParseHandshakeResponse(payload, &parsed)) << mask;
    EXPECT_EQ(parsed.capabilities, response.capabilities) << mask;
    EXPECT_EQ(parsed.max_packet, response.max_packet) << mask;
    EXPECT_EQ(parsed.charset, response.charset) << mask;
    EXPECT_EQ(parsed.user, response.user) << mask;
    EXPECT_EQ(parsed.auth_response, response.auth_response) << mask;
    EXPECT_EQ(parsed.database, (extra & capability::kConnectWithDb) != 0 ? "shop" : "") << mask;
    EXPECT_EQ(parsed.auth_plugin,
              (extra & capability::kPluginAuth) != 0 ? "mysql_native_password" : "")
        << mask;
    if ((extra & capability::kConnectAttrs) != 0) {
      EXPECT_EQ(parsed.attributes, response.attributes) << mask;
    } else {
      EXPECT_TRUE(parsed.attributes.empty()) << mask;
    }
  }
}

TEST(HandshakeResponseTest, ASmallAttributeBlockIsRead) {
  HandshakeResponse response = SampleResponse(capability::kConnectAttrs);
  response.attributes = {{"k", ""}};
  std::string payload;
  AppendHandshakeResponse(payload, response);
  EXPECT_EQ(payload.substr(payload.size() - 4), std::string("\x03\x01k\x00", 4));
  HandshakeResponse parsed;
  ASSERT_TRUE(ParseHandshakeResponse(payload, &parsed));
  EXPECT_EQ(parsed.attributes, response.attributes);
}

TEST(HandshakeResponseTest, ALenencAnswerMayBeLongerThan255Bytes) {
  HandshakeResponse response =
      SampleResponse(capability::kPluginAuthLenencData | capability::kConnectWithDb);
  response.auth_response = std::string(300, 'a');
  std::string payload;
  AppendHandshakeResponse(payload, response);
  HandshakeResponse parsed;
  ASSERT_TRUE(ParseHandshakeResponse(payload, &parsed));
  EXPECT_EQ(parsed.auth_response, response.auth_response);
  EXPECT_EQ(parsed.database, "shop");
}

// Without CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA the answer's length is one byte: an
// answer too long for it must not be written with a length that is not the bytes'.
TEST(HandshakeResponseTest, AnAnswerTooLongForItsLengthByteDoesNotSpillIntoTheDatabase) {
  HandshakeResponse response = SampleResponse(capability::kConnectWithDb);
  response.auth_response = std::string(256, 'a');
  std::string payload;
  AppendHandshakeResponse(payload, response);
  HandshakeResponse parsed;
  ASSERT_TRUE(ParseHandshakeResponse(payload, &parsed));
  EXPECT_EQ(parsed.database, "shop");
  EXPECT_EQ(response.auth_response.substr(0, parsed.auth_response.size()), parsed.auth_response);
}

// Per the protocol, a 4.1 client without CLIENT_SECURE_CONNECTION (nor
// CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) ends its answer with a NUL, as the parser reads it.
TEST(HandshakeResponseTest, WithoutSecureConnectionTheAnswerIsNulTerminated) {
  HandshakeResponse response;
  response.capabilities = capability::kProtocol41 | capability::kConnectWithDb;
  response.user = "app";
  response.auth_response = "abcdefgh";
  response.database = "shop";
  std::string payload;
  AppendHandshakeResponse(payload, response);
  HandshakeResponse parsed;
  ASSERT_TRUE(ParseHandshakeResponse(payload, &parsed));
  EXPECT_EQ(parsed.auth_response, "abcdefgh");
  EXPECT_EQ(parsed.database, "shop");
}

TEST(HandshakeResponseTest, AbsentTrailingFieldsStayEmpty) {
  // Announced but not sent: clients stop at the last field they have.
  HandshakeResponse response = SampleResponse(0);
  std::string payload;
  AppendHandshakeResponse(payload, response);
  const uint32_t announced = response.capabilities | capability::kConnectWithDb |
                             capability::kPluginAuth | capability::kConnectAttrs;
  payload.replace(
      0, 4,
      std::string{static_cast<char>(announced & 0xFF), static_cast<char>((announced >> 8) & 0xFF),
                  static_cast<char>((announced >> 16) & 0xFF), static_cast<char>(announced >> 24)});
  HandshakeResponse parsed;
  ASSERT_TRUE(ParseHandshakeResponse(payload, &parsed));
  EXPECT_EQ(parsed.auth_response, response.auth_response);
  EXPECT_EQ(parsed.database, "");
  EXPECT_EQ(parsed.auth_plugin, "");
  EXPECT_TRUE(parsed.attributes.empty());
}

TEST(HandshakeResponseTest, AResponseWithoutProtocol41IsRefused) {
  HandshakeResponse response = SampleResponse(0);
  response.capabilities &= ~capability::kProtocol41;
  std::string payload;
  AppendHandshakeResponse(payload, response);
  HandshakeResponse parsed;
  EXPECT_FALSE(ParseHandshakeResponse(payload, &parsed));
}

TEST(HandshakeResponseTest, AResponseThatDoesNotHoldItsFieldsIsRefused) {
  const std::string real = FromHex(kMariaDbClientResponseHex);
  HandshakeResponse parsed;
  // Cut inside the user name, the answer, the database, the plugin name, the attributes.
  for (const size_t size : {size_t{0}, size_t{31}, size_t{34}, size_t{36}, size_t{50}, size_t{62},
                            size_t{80}, size_t{real.size() - 1}}) {
    EXPECT_FALSE(ParseHandshakeResponse(real.substr(0, size), &parsed)) << size;
  }
  // Attributes whose pairs do not fill their block.
  std::string lying = real;
  lying[real.size() - 10] = 10;  // "127.0.0.1", the last value, said one byte longer.
  EXPECT_FALSE(ParseHandshakeResponse(lying, &parsed));
}

TEST(HandshakeResponseTest, AnSslRequestIsTheResponsesFirst32BytesWithSsl) {
  HandshakeResponse response = SampleResponse(capability::kSsl | capability::kPluginAuth);
  std::string payload;
  AppendHandshakeResponse(payload, response);
  EXPECT_TRUE(IsSslRequest(payload.substr(0, kSslRequestBytes)));
  EXPECT_FALSE(IsSslRequest(payload.substr(0, kSslRequestBytes - 1)));
  EXPECT_FALSE(IsSslRequest(payload.substr(0, kSslRequestBytes + 1)));
  EXPECT_FALSE(IsSslRequest(payload));
  response.capabilities &= ~capability::kSsl;
  payload.clear();
  AppendHandshakeResponse(payload, response);
  EXPECT_FALSE(IsSslRequest(payload.substr(0, kSslRequestBytes)));
  EXPECT_FALSE(IsSslRequest(FromHex(kMariaDbClientResponseHex).substr(0, kSslRequestBytes)));
}

TEST(AuthSwitchTest, ParsesARealMariaDbAuthSwitchRequest) {
  AuthSwitch request;
  ASSERT_TRUE(ParseAuthSwitch(FromHex(kAuthSwitchHex), &request));
  EXPECT_EQ(request.plugin, "mysql_native_password");
  EXPECT_EQ(request.data, FromHex("6e2e386e43415b274e3459452b48685550716838"));
  EXPECT_EQ(request.data.size(), kNonceBytes);
}

TEST(AuthSwitchTest, DataWithoutATrailingNulIsKeptWhole) {
  AuthSwitch request;
  ASSERT_TRUE(ParseAuthSwitch(std::string_view("\xFE"
                                               "plugin\0data",
                                               12),
                              &request));
  EXPECT_EQ(request.plugin, "plugin");
  EXPECT_EQ(request.data, "data");
  ASSERT_TRUE(ParseAuthSwitch(std::string_view("\xFE"
                                               "plugin\0",
                                               8),
                              &request));
  EXPECT_EQ(request.data, "");
}

TEST(AuthSwitchTest, OtherMessagesAreRefused) {
  AuthSwitch request;
  EXPECT_FALSE(ParseAuthSwitch("", &request));
  EXPECT_FALSE(ParseAuthSwitch(std::string_view("\x00\x00\x00\x02\x00\x00\x00", 7), &request));
  EXPECT_FALSE(
      ParseAuthSwitch("\xFE"
                      "plugin without end",
                      &request));
}

}  // namespace
}  // namespace trellis::proto::mysql
