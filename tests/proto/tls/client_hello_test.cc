#include "proto/tls/client_hello.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "testing/hex.h"

namespace trellis::proto::tls {
namespace {

// ClientHellos captured on loopback (a socket that dumps what it receives), as `xxd -p`.
// OpenSSL 3.0.19: `openssl s_client -servername a.example -alpn h2,http/1.1`, TLS 1.3.
constexpr std::string_view kOpensslSniAlpnHex =
    "1603010148010001440303d690bb34f297ee35c0d3f3e7dcf1f053cdf2464d69ba7cf4ef269542a0"
    "6e8334201c32ce3986e2ae10c5bd0eae318ad9d894010b49ad8b3b7d7f883c6a271c24fd003e1302"
    "13031301c02cc030009fcca9cca8ccaac02bc02f009ec024c028006bc023c0270067c00ac0140039"
    "c009c0130033009d009c003d003c0035002f00ff010000bd0000000e000c000009612e6578616d70"
    "6c65000b000403000102000a00160014001d0017001e001900180100010101020103010400230000"
    "0010000e000c02683208687474702f312e310016000000170000000d002a00280403050306030807"
    "08080809080a080b080408050806040105010601030303010302040205020602002b000908030403"
    "0303020301002d00020101003300260024001d0020c6589d28b8d2535bbef23e61408aad251af74a"
    "96bcba4421c9adc2c3e826686c";
// OpenSSL 3.0.19: `openssl s_client -noservername`, TLS 1.3, no SNI and no ALPN.
constexpr std::string_view kOpensslNoSniHex =
    "1603010124010001200303bb99a62b2bd1861b86b515fb1a4b360a22a93e4f00ca79dead4732f09d"
    "3493ba204a45fb4b8c85daf8e05c70fdc114f4b74d780cddb2af08708e063595dd06703e003e1302"
    "13031301c02cc030009fcca9cca8ccaac02bc02f009ec024c028006bc023c0270067c00ac0140039"
    "c009c0130033009d009c003d003c0035002f00ff01000099000b000403000102000a00160014001d"
    "0017001e0019001801000101010201030104002300000016000000170000000d002a002804030503"
    "0603080708080809080a080b080408050806040105010601030303010302040205020602002b0009"
    "080304030303020301002d00020101003300260024001d0020baed8f20bbd705e027b8a9c8aaf2ba"
    "fa718e4b723ff271201fc15655d69dee01";
// curl 7.88.1 (OpenSSL 3.0.19): `curl --tls-max 1.2 https://www.example.com:PORT/`.
constexpr std::string_view kCurlTls12Hex =
    "16030100dd010000d9030369d93f84246f609b9062cf014b2ec9e2d5bd57f34306905e39084c0e96"
    "e7daf7000038c02cc030009fcca9cca8ccaac02bc02f009ec024c028006bc023c0270067c00ac014"
    "0039c009c0130033009d009c003d003c0035002f00ff0100007800000014001200000f7777772e65"
    "78616d706c652e636f6d000b000403000102000a000c000a001d0017001e001900180010000e000c"
    "02683208687474702f312e310016000000170000000d002a0028040305030603080708080809080a"
    "080b080408050806040105010601030303010302040205020602";

using testing::FromHex;

std::string U8(size_t value) { return std::string(1, static_cast<char>(value)); }
std::string U16(size_t value) { return U8(value >> 8) + U8(value & 0xff); }
std::string U24(size_t value) { return U8(value >> 16) + U16(value & 0xffff); }

void SetU16(std::string* bytes, size_t offset, size_t value) {
  bytes->replace(offset, 2, U16(value));
}

std::string Record(std::string_view fragment, uint8_t type = 22) {
  return U8(type) + "\x03\x01" + U16(fragment.size()) + std::string(fragment);
}

// A ClientHello body with these extensions, each already framed by Extension().
std::string HelloBody(const std::vector<std::string>& extensions, std::string_view session_id = "",
                      std::string_view cipher_suites = "\x13\x01") {
  std::string block;
  for (const std::string& extension : extensions) block += extension;
  return "\x03\x03" + std::string(32, 'r') + U8(session_id.size()) + std::string(session_id) +
         U16(cipher_suites.size()) + std::string(cipher_suites) + U8(1) + U8(0) +
         U16(block.size()) + block;
}

std::string Handshake(std::string_view body) {
  return "\x01" + U24(body.size()) + std::string(body);
}

std::string HelloMessage(const std::vector<std::string>& extensions) {
  return Handshake(HelloBody(extensions));
}

std::string Extension(uint16_t type, std::string_view data) {
  return U16(type) + U16(data.size()) + std::string(data);
}

std::string Sni(std::string_view host_name) {
  const std::string entry = U8(0) + U16(host_name.size()) + std::string(host_name);
  return Extension(0, U16(entry.size()) + entry);
}

// A handshake message in records that break it at `splits` (offsets into the message).
std::string Records(std::string_view message, const std::vector<size_t>& splits) {
  std::string records;
  size_t start = 0;
  for (const size_t split : splits) {
    records += Record(message.substr(start, split - start));
    start = split;
  }
  return records + Record(message.substr(start));
}

struct Outcome {
  HelloStatus status;
  ClientHello hello;
  size_t needed = 0;
};

Outcome Parse(std::string_view input) {
  Outcome outcome;
  outcome.status = ParseClientHello(input, &outcome.hello, &outcome.needed);
  return outcome;
}

TEST(ClientHelloTest, ReadsSniAndAlpnFromOpensslTls13Hello) {
  const Outcome outcome = Parse(FromHex(kOpensslSniAlpnHex));
  ASSERT_EQ(outcome.status, HelloStatus::kOk);
  EXPECT_EQ(outcome.hello.server_name, "a.example");
  EXPECT_EQ(outcome.hello.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
  EXPECT_EQ(outcome.hello.legacy_version, 0x0303);
}

TEST(ClientHelloTest, ReadsHelloWithoutSniOrAlpn) {
  const Outcome outcome = Parse(FromHex(kOpensslNoSniHex));
  ASSERT_EQ(outcome.status, HelloStatus::kOk);
  EXPECT_EQ(outcome.hello.server_name, "");
  EXPECT_TRUE(outcome.hello.alpn.empty());
  EXPECT_EQ(outcome.hello.legacy_version, 0x0303);
}

TEST(ClientHelloTest, ReadsCurlTls12Hello) {
  const Outcome outcome = Parse(FromHex(kCurlTls12Hex));
  ASSERT_EQ(outcome.status, HelloStatus::kOk);
  EXPECT_EQ(outcome.hello.server_name, "www.example.com");
  EXPECT_EQ(outcome.hello.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
  EXPECT_EQ(outcome.hello.legacy_version, 0x0303);
}

TEST(ClientHelloTest, EveryTruncationNeedsMoreAndSaysHowMuch) {
  for (const std::string_view hex : {kOpensslSniAlpnHex, kOpensslNoSniHex, kCurlTls12Hex}) {
    const std::string hello = FromHex(hex);
    for (size_t n = 0; n < hello.size(); ++n) {
      ClientHello parsed;
      parsed.server_name = "untouched";
      size_t needed = 0;
      ASSERT_EQ(ParseClientHello(std::string_view(hello).substr(0, n), &parsed, &needed),
                HelloStatus::kNeedMore)
          << n;
      // Before the record header: the header and the handshake header; after: the record.
      EXPECT_EQ(needed, n < 5 ? 9 : hello.size()) << n;
      EXPECT_EQ(parsed.server_name, "untouched") << n;
    }
  }
}

TEST(ClientHelloTest, ReadsHelloSplitAcrossRecords) {
  const std::string hello = FromHex(kOpensslSniAlpnHex);
  const size_t message_size = hello.size() - 5;
  const std::vector<std::vector<size_t>> splits = {
      {1}, {3}, {4}, {5}, {150}, {message_size - 1}, {1, 2, 3}, {100, 200, 300}};
  for (const std::vector<size_t>& split : splits) {
    const Outcome outcome = Parse(Records(std::string_view(hello).substr(5), split));
    ASSERT_EQ(outcome.status, HelloStatus::kOk) << split[0];
    EXPECT_EQ(outcome.hello.server_name, "a.example");
    EXPECT_EQ(outcome.hello.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
  }
}

TEST(ClientHelloTest, TruncatedSplitHelloNeedsNoMoreThanItsSize) {
  const std::string hello = Records(FromHex(kOpensslSniAlpnHex).substr(5), {2, 100, 200});
  for (size_t n = 0; n < hello.size(); ++n) {
    const Outcome outcome = Parse(std::string_view(hello).substr(0, n));
    ASSERT_EQ(outcome.status, HelloStatus::kNeedMore) << n;
    EXPECT_GT(outcome.needed, n);
    EXPECT_LE(outcome.needed, hello.size()) << n;
  }
}

TEST(ClientHelloTest, ReadingWhatIsNeededReachesTheHello) {
  const std::string hello = Records(FromHex(kCurlTls12Hex).substr(5), {2, 100});
  size_t have = 0;
  std::vector<size_t> reads;
  Outcome outcome = Parse("");
  while (outcome.status == HelloStatus::kNeedMore) {
    have = outcome.needed;
    reads.push_back(have);
    ASSERT_LE(have, hello.size());
    outcome = Parse(std::string_view(hello).substr(0, have));
  }
  EXPECT_EQ(outcome.status, HelloStatus::kOk);
  // A record header and a handshake header; the first record (2 bytes) and the next
  // header and 2 bytes; the second record (98 bytes); the third, 121 bytes.
  EXPECT_EQ(reads, (std::vector<size_t>{9, 14, 110, hello.size()}));
}

TEST(ClientHelloTest, IgnoresBytesAfterTheHello) {
  const std::string hello = FromHex(kOpensslSniAlpnHex);
  EXPECT_EQ(Parse(hello + Record("early data", 23)).status, HelloStatus::kOk);
  EXPECT_EQ(Parse(hello + "\x16").status, HelloStatus::kOk);
}

TEST(ClientHelloTest, NotTlsWhenTheFirstByteIsNotAHandshakeRecord) {
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n").status, HelloStatus::kNotTls);
  EXPECT_EQ(Parse("G").status, HelloStatus::kNotTls);
  // An SSL 2.0-style hello, which no TLS 1.3 server accepts.
  EXPECT_EQ(Parse(FromHex("802e0103010015")).status, HelloStatus::kNotTls);
}

TEST(ClientHelloTest, RejectsCorruptedLengths) {
  const std::string hello = FromHex(kOpensslSniAlpnHex);
  const size_t host_name = hello.find("a.example");
  const size_t alpn = hello.find("\x02h2\x08http/1.1");
  ASSERT_NE(host_name, std::string::npos);
  ASSERT_NE(alpn, std::string::npos);
  struct Corruption {
    const char* field;
    size_t offset;
    size_t value;  // A 16-bit big-endian value, or at a one-byte field a byte and its next.
  };
  const Corruption corruptions[] = {
      {"record version 2.0", 1, 0x0200},
      {"record version 3.5", 1, 0x0305},
      {"record length 0", 3, 0},
      {"record length 2^14 + 1", 3, 0x4001},
      {"handshake type ServerHello", 5, 0x0200},
      {"handshake length short of the record", 7, 0x0143},
      {"session id length 33", 43, 0x2120},
      {"cipher suites length odd", 76, 0x003d},
      {"cipher suites length 0", 76, 0},
      {"cipher suites length past the message", 76, 0xfffe},
      {"compression methods length 0", 140, 0x0000},
      {"extensions length short", 142, 0x00bc},
      {"extensions length long", 142, 0x00be},
      {"server_name length short", host_name - 7, 0x000d},
      {"server_name length long", host_name - 7, 0x000f},
      {"server name list length short", host_name - 5, 0x000b},
      {"server name list length long", host_name - 5, 0x000d},
      {"server name list length 0", host_name - 5, 0},
      {"host name length short", host_name - 2, 8},
      {"host name length long", host_name - 2, 10},
      {"host name length 0", host_name - 2, 0},
      {"alpn length short", alpn - 4, 0x000d},
      {"alpn length long", alpn - 4, 0x000f},
      {"protocol list length short", alpn - 2, 0x000b},
      {"protocol list length long", alpn - 2, 0x000d},
      {"protocol name length 0", alpn, 0x0068},
      {"protocol name length past the list", alpn, 0x0368},
  };
  for (const Corruption& corruption : corruptions) {
    std::string corrupt = hello;
    SetU16(&corrupt, corruption.offset, corruption.value);
    ASSERT_NE(corrupt, hello) << corruption.field;
    EXPECT_EQ(Parse(corrupt).status, HelloStatus::kBad) << corruption.field;
  }
}

TEST(ClientHelloTest, LongerHandshakeLengthWaitsForAnotherRecord) {
  std::string hello = FromHex(kOpensslSniAlpnHex);
  SetU16(&hello, 7, 0x0145);
  const Outcome outcome = Parse(hello);
  ASSERT_EQ(outcome.status, HelloStatus::kNeedMore);
  EXPECT_EQ(outcome.needed, hello.size() + 5 + 1);
  EXPECT_EQ(Parse(hello + Record("x", 23)).status, HelloStatus::kBad);
}

TEST(ClientHelloTest, ChecksTheHostName) {
  struct Case {
    std::string host_name;
    HelloStatus status;
    std::string server_name;
  };
  const Case cases[] = {
      {"Backend-1.Example.COM", HelloStatus::kOk, "backend-1.example.com"},
      {"_acme.a.example", HelloStatus::kOk, "_acme.a.example"},
      {"x", HelloStatus::kOk, "x"},
      {std::string(255, 'a'), HelloStatus::kOk, std::string(255, 'a')},
      {std::string(256, 'a'), HelloStatus::kBad, ""},
      {"", HelloStatus::kBad, ""},
      {"a.example.", HelloStatus::kBad, ""},
      {"a.example:443", HelloStatus::kBad, ""},
      {"a/b", HelloStatus::kBad, ""},
      {"a b", HelloStatus::kBad, ""},
      {std::string("a\0b", 3), HelloStatus::kBad, ""},
      {"caf\xc3\xa9.example", HelloStatus::kBad, ""},
  };
  for (const Case& c : cases) {
    const Outcome outcome = Parse(Record(HelloMessage({Sni(c.host_name)})));
    ASSERT_EQ(outcome.status, c.status) << c.host_name;
    EXPECT_EQ(outcome.hello.server_name, c.server_name);
  }
}

TEST(ClientHelloTest, RejectsRepeatedServerNamesAndAlpn) {
  const std::string alpn = Extension(16, U16(3) + "\x02h2");
  EXPECT_EQ(Parse(Record(HelloMessage({Sni("a.example"), Sni("b.example")}))).status,
            HelloStatus::kBad);
  EXPECT_EQ(Parse(Record(HelloMessage({alpn, alpn}))).status, HelloStatus::kBad);
  const std::string entry_a = U8(0) + U16(1) + "a";
  const std::string entry_b = U8(0) + U16(1) + "b";
  EXPECT_EQ(Parse(Record(HelloMessage({Extension(0, U16(8) + entry_a + entry_b)}))).status,
            HelloStatus::kBad);
}

TEST(ClientHelloTest, SkipsUnknownNameTypesAndExtensions) {
  const std::string entries = U8(7) + U16(3) + "xyz" + U8(0) + U16(9) + "a.example";
  const Outcome outcome = Parse(Record(HelloMessage(
      {Extension(0xfafa, ""), Extension(0, U16(entries.size()) + entries), Extension(21, "pad")})));
  ASSERT_EQ(outcome.status, HelloStatus::kOk);
  EXPECT_EQ(outcome.hello.server_name, "a.example");
}

TEST(ClientHelloTest, RejectsEmptyAlpnList) {
  EXPECT_EQ(Parse(Record(HelloMessage({Extension(16, U16(0))}))).status, HelloStatus::kBad);
  EXPECT_EQ(Parse(Record(HelloMessage({Extension(16, "")}))).status, HelloStatus::kBad);
}

TEST(ClientHelloTest, AcceptsHelloWithoutExtensions) {
  const std::string body = HelloBody({});
  EXPECT_EQ(Parse(Record(Handshake(body))).status, HelloStatus::kOk);  // An empty block.
  const Outcome outcome = Parse(Record(Handshake(body.substr(0, body.size() - 2))));
  ASSERT_EQ(outcome.status, HelloStatus::kOk);
  EXPECT_EQ(outcome.hello.server_name, "");
}

TEST(ClientHelloTest, RejectsFieldsThatBreakTheirBounds) {
  const std::string entry = U8(0) + U16(9) + "a.example";
  const std::string alpn = U16(3) + "\x02h2";
  const std::string sni = Sni("a.example");
  struct Case {
    const char* what;
    std::string body;
    HelloStatus status;
  };
  const Case cases[] = {
      {"session id of 32 bytes", HelloBody({sni}, std::string(32, 's')), HelloStatus::kOk},
      {"session id of 33 bytes", HelloBody({sni}, std::string(33, 's')), HelloStatus::kBad},
      {"cipher suites of 3 bytes", HelloBody({sni}, "", "\x13\x01\x13"), HelloStatus::kBad},
      {"a byte after the extensions", HelloBody({sni}) + "x", HelloStatus::kBad},
      {"a byte after the server name list",
       HelloBody({Extension(0, U16(entry.size()) + entry + "x")}), HelloStatus::kBad},
      {"a byte after the protocol list", HelloBody({Extension(16, alpn + "x")}), HelloStatus::kBad},
      {"an empty protocol name", HelloBody({Extension(16, U16(4) + U8(0) + U8(2) + "h2")}),
       HelloStatus::kBad},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Parse(Record(Handshake(c.body))).status, c.status) << c.what;
  }
}

TEST(ClientHelloTest, RejectsRecordsLongerThan16KiB) {
  const size_t padding = (1 << 14) - HelloMessage({Extension(21, "")}).size();
  const std::string message = HelloMessage({Extension(21, std::string(padding, '\0'))});
  ASSERT_EQ(message.size(), size_t{1} << 14);
  EXPECT_EQ(Parse(Record(message)).status, HelloStatus::kOk);
  const std::string longer = HelloMessage({Extension(21, std::string(padding + 1, '\0'))});
  EXPECT_EQ(Parse(Record(longer)).status, HelloStatus::kBad);
  EXPECT_EQ(Parse(Records(longer, {1 << 13})).status, HelloStatus::kOk);
}

TEST(ClientHelloTest, RejectsEmptyOrOtherRecordsWithinTheHello) {
  const std::string message = HelloMessage({Sni("a.example")});
  EXPECT_EQ(Parse(Record(message.substr(0, 10)) + Record(message.substr(10), 23)).status,
            HelloStatus::kBad);
  EXPECT_EQ(Parse(Record("") + Record(message)).status, HelloStatus::kBad);
  EXPECT_EQ(Parse(Record(message.substr(0, 10)) + Record("") + Record(message.substr(10))).status,
            HelloStatus::kBad);
}

TEST(ClientHelloTest, AcceptsHelloOf64KiBAndRejectsLonger) {
  const size_t padding =
      kMaxHelloLength - HelloMessage({Sni("a.example"), Extension(21, "")}).size();
  const std::string at_limit =
      HelloMessage({Sni("a.example"), Extension(21, std::string(padding, '\0'))});
  ASSERT_EQ(at_limit.size(), kMaxHelloLength);
  std::vector<size_t> splits;
  for (size_t split = 16384; split < at_limit.size(); split += 16384) splits.push_back(split);
  const std::string records = Records(at_limit, splits);
  const Outcome outcome = Parse(records);
  ASSERT_EQ(outcome.status, HelloStatus::kOk);
  EXPECT_EQ(outcome.hello.server_name, "a.example");
  // One byte longer is refused from its header alone, before the caller buffers it.
  const std::string header = "\x01" + U24(kMaxHelloLength - 3);
  EXPECT_EQ(Parse(Record(header)).status, HelloStatus::kBad);
}

}  // namespace
}  // namespace trellis::proto::tls
