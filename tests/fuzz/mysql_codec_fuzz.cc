// libFuzzer target for the MySQL protocol codec (src/proto/mysql/): every parser must take
// any bytes without crashing or reading out of bounds, and what the codec promises must
// hold. The first input byte picks what the rest exercises:
//   0  ReadFrame and ReadMessage over a packet stream, against a model of the framing:
//      a frame never claims more than it was given, kNeedMore means more input is really
//      needed, kTooLarge only when the headers announce more than the limit.
//   1  ParseGreeting; a greeting it accepts, re-encoded, parses to the same fields.
//   2  ParseHandshakeResponse and IsSslRequest; the same round trip.
//   3  ParseAuthSwitch; the same round trip.
//   4  ParseOk, ParseErr, ParseEof and the PayloadReader's reads; round trips, and a failed
//      read does not move the reader.
//   5  ResponseReader (the shape from the next byte) fed the payloads of a packet stream:
//      nothing after the end, an ERR is what failed.
//   6  ResponseReader fed a well-formed response built from the input, for each shape: it
//      must end exactly at the last message, with that message's status flags.
//   7  ScanStatements: a leading comment changes nothing, a statement added never loses a
//      use, kTransaction never comes from the text; IsPlainRead refuses what a second
//      statement or a lock follows.
//   8  mysql_native_password: answer and check round trip, a changed answer is refused,
//      an accepted answer is the answer of what it recovered, stored hashes round trip.
//   9  AppendMessage then ReadMessage gives the same payload, and every prefix needs more.
//  10  ParseGtidPosition: what it accepts formats and parses back to the same, covers
//      itself, and merged with anything covers both.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proto/mysql/auth.h"
#include "proto/mysql/gtid.h"
#include "proto/mysql/handshake.h"
#include "proto/mysql/messages.h"
#include "proto/mysql/packet.h"
#include "proto/mysql/response.h"
#include "proto/mysql/session_use.h"
#include "proto/mysql/wire.h"

namespace trellis::proto::mysql {
namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

size_t Announced(std::string_view header) {
  return static_cast<uint8_t>(header[0]) |
         static_cast<size_t>(static_cast<uint8_t>(header[1])) << 8 |
         static_cast<size_t>(static_cast<uint8_t>(header[2])) << 16;
}

// ---- 0: framing.

void CheckFrames(std::string_view input) {
  std::string_view rest = input;
  for (;;) {
    Frame frame;
    if (ReadFrame(rest, &frame) == FrameStatus::kNeedMore) {
      Check(rest.size() < kPacketHeaderBytes || rest.size() < kPacketHeaderBytes + Announced(rest));
      return;
    }
    Check(frame.bytes <= rest.size());
    Check(frame.bytes == kPacketHeaderBytes + frame.payload.size());
    Check(frame.payload.data() == rest.data() + kPacketHeaderBytes);
    Check(frame.sequence == static_cast<uint8_t>(rest[3]));
    Check(frame.continues == (frame.payload.size() == kMaxPacketPayload));
    Frame shorter;
    Check(ReadFrame(rest.substr(0, frame.bytes - 1), &shorter) == FrameStatus::kNeedMore);
    Frame again;  // More input does not change the first packet.
    Check(ReadFrame(rest, &again) == FrameStatus::kOk && again.bytes == frame.bytes);
    rest.remove_prefix(frame.bytes);
  }
}

void CheckMessage(std::string_view input, size_t max_payload) {
  // The model: packets of 0xFFFFFF bytes continue, the headers' sum is checked first.
  MessageStatus expected = MessageStatus::kNeedMore;
  size_t used = 0;
  size_t total = 0;
  uint8_t sequence = 0;
  for (;;) {
    const std::string_view rest = input.substr(used);
    if (rest.size() < kPacketHeaderBytes) break;
    const size_t length = Announced(rest);
    if (total + length > max_payload) {
      expected = MessageStatus::kTooLarge;
      break;
    }
    if (rest.size() < kPacketHeaderBytes + length) break;
    total += length;
    used += kPacketHeaderBytes + length;
    sequence = static_cast<uint8_t>(rest[3]);
    if (length < kMaxPacketPayload) {
      expected = MessageStatus::kOk;
      break;
    }
  }
  Message message;
  const MessageStatus status = ReadMessage(input, max_payload, &message);
  Check(status == expected);
  if (status != MessageStatus::kOk) return;
  Check(message.bytes == used && message.bytes <= input.size());
  Check(message.payload.size() == total && total <= max_payload);
  Check(message.sequence == sequence);
  // Re-framed from its first sequence number, the message reads back the same.
  std::string out;
  AppendMessage(out, static_cast<uint8_t>(input[3]), message.payload);
  Check(out.size() == message.bytes);
  Message again;
  Check(ReadMessage(out, max_payload, &again) == MessageStatus::kOk);
  Check(again.payload == message.payload && again.bytes == out.size());
  if (message.bytes == kPacketHeaderBytes + total) {
    Check(out == input.substr(0, message.bytes));  // One packet: the same bytes.
  }
}

void FuzzFraming(std::string_view input) {
  CheckFrames(input);
  CheckMessage(input, std::numeric_limits<size_t>::max());
  CheckMessage(input, kMaxPacketPayload);
  CheckMessage(input, 64);
  CheckMessage(input, 0);
}

// ---- 9: AppendMessage.

void FuzzAppendMessage(std::string_view input) {
  if (input.empty()) return;
  const auto sequence = static_cast<uint8_t>(input[0]);
  const std::string_view payload = input.substr(1);
  std::string out;
  const uint8_t next = AppendMessage(out, sequence, payload);
  Check(out.size() == kPacketHeaderBytes + payload.size());
  Check(next == static_cast<uint8_t>(sequence + 1));
  Message message;
  Check(ReadMessage(out, payload.size(), &message) == MessageStatus::kOk);
  Check(message.payload == payload && message.bytes == out.size());
  Check(message.sequence == sequence);
  if (!payload.empty()) {
    Check(ReadMessage(out, payload.size() - 1, &message) == MessageStatus::kTooLarge);
  }
  for (const size_t size : {size_t{0}, size_t{3}, kPacketHeaderBytes, out.size() - 1}) {
    if (size >= out.size()) continue;
    Check(ReadMessage(std::string_view(out).substr(0, size), payload.size(), &message) ==
          MessageStatus::kNeedMore);
  }
}

// ---- 1: greeting.

void FuzzGreeting(std::string_view input) {
  Greeting greeting;
  if (!ParseGreeting(input, &greeting)) return;
  Check(greeting.nonce.size() >= 8);
  std::string out;
  AppendGreeting(out, greeting);
  Greeting again;
  Check(ParseGreeting(out, &again));
  Check(again.server_version == greeting.server_version);
  Check(again.connection_id == greeting.connection_id);
  Check(again.capabilities == greeting.capabilities);
  Check(again.charset == greeting.charset);
  Check(again.status == greeting.status);
  const bool secure = (greeting.capabilities & capability::kSecureConnection) != 0;
  const bool plugin = (greeting.capabilities & capability::kPluginAuth) != 0;
  // The nonce's length is one byte (with its NUL). A pre-4.1 greeting (8 bytes of nonce)
  // is re-encoded as a 4.1 one.
  if (secure && greeting.nonce.size() >= kNonceBytes && greeting.nonce.size() <= 254) {
    Check(again.nonce == greeting.nonce);
    Check(again.auth_plugin == greeting.auth_plugin);
  } else if (!secure) {
    Check(again.nonce == greeting.nonce);
    Check(!plugin || again.auth_plugin == greeting.auth_plugin);
  }
}

// ---- 2: handshake response.

void FuzzHandshakeResponse(std::string_view input) {
  if (IsSslRequest(input)) {
    Check(input.size() == kSslRequestBytes);
    Check((static_cast<uint8_t>(input[1]) << 8 & capability::kSsl) != 0);
  }
  HandshakeResponse response;
  if (!ParseHandshakeResponse(input, &response)) return;
  Check((response.capabilities & capability::kProtocol41) != 0);
  std::string out;
  AppendHandshakeResponse(out, response);
  HandshakeResponse again;
  Check(ParseHandshakeResponse(out, &again));
  Check(again.capabilities == response.capabilities);
  Check(again.max_packet == response.max_packet);
  Check(again.charset == response.charset);
  Check(again.user == response.user);
  Check(again.auth_response == response.auth_response);
  Check(again.database == response.database);
  Check(again.auth_plugin == response.auth_plugin);
  Check(again.attributes == response.attributes);
  std::string twice;
  AppendHandshakeResponse(twice, again);
  Check(twice == out);
  if ((response.capabilities & capability::kSsl) != 0 && out.size() > kSslRequestBytes) {
    Check(IsSslRequest(std::string_view(out).substr(0, kSslRequestBytes)));
  }
}

// ---- 3: auth switch.

void FuzzAuthSwitch(std::string_view input) {
  AuthSwitch request;
  if (!ParseAuthSwitch(input, &request)) return;
  Check(request.plugin.find('\0') == std::string::npos);
  std::string out = "\xFE";
  AppendNulString(out, request.plugin);
  AppendNulString(out, request.data);
  AuthSwitch again;
  Check(ParseAuthSwitch(out, &again));
  Check(again.plugin == request.plugin && again.data == request.data);
}

// ---- 4: OK, ERR, EOF, PayloadReader.

void FuzzSmallMessages(std::string_view input) {
  OkPacket ok;
  if (ParseOk(input, &ok)) {
    Check(input[0] == '\0' || static_cast<uint8_t>(input[0]) == 0xFE);
    std::string out;
    AppendOk(out, ok);
    OkPacket again;
    Check(ParseOk(out, &again));
    Check(again.affected_rows == ok.affected_rows && again.last_insert_id == ok.last_insert_id);
    Check(again.status == ok.status && again.warnings == ok.warnings && again.info == ok.info);
  }
  ErrPacket err;
  if (ParseErr(input, &err)) {
    Check(err.sql_state.empty() || err.sql_state.size() == 5);
    std::string out;
    AppendErr(out, err.code, err.sql_state, err.message);
    ErrPacket again;
    Check(ParseErr(out, &again));
    Check(again.code == err.code && again.message == err.message);
    Check(again.sql_state == (err.sql_state.empty() ? "00000" : err.sql_state));
  }
  EofPacket eof;
  if (ParseEof(input, &eof)) {
    Check(IsEof(input));
    std::string out;
    AppendEof(out, eof);
    EofPacket again;
    Check(ParseEof(out, &again) && again.warnings == eof.warnings && again.status == eof.status);
  }
  if (IsEof(input)) Check(input.size() < 9 && static_cast<uint8_t>(input[0]) == 0xFE);

  // The reads: the first byte says how many of the next bytes are operations.
  if (input.empty()) return;
  const size_t operations = std::min<size_t>(static_cast<uint8_t>(input[0]) % 32, input.size() - 1);
  PayloadReader reader(input.substr(1 + operations));
  for (size_t i = 0; i < operations; ++i) {
    const size_t before = reader.remaining();
    const auto op = static_cast<uint8_t>(input[1 + i]);
    size_t consumed = 0;
    bool ok_read = false;
    bool sized = true;  // Fails exactly when fewer than `consumed` bytes are left.
    switch (op % 10) {
      case 0: {
        uint8_t v = 0;
        ok_read = reader.ReadU8(&v);
        consumed = 1;
        break;
      }
      case 1: {
        uint16_t v = 0;
        ok_read = reader.ReadU16(&v);
        consumed = 2;
        break;
      }
      case 2: {
        uint32_t v = 0;
        ok_read = reader.ReadU24(&v);
        consumed = 3;
        Check(!ok_read || v <= 0xFFFFFF);
        break;
      }
      case 3: {
        uint32_t v = 0;
        ok_read = reader.ReadU32(&v);
        consumed = 4;
        break;
      }
      case 4: {
        uint64_t v = 0;
        ok_read = reader.ReadU64(&v);
        consumed = 8;
        break;
      }
      case 5: {
        sized = false;
        uint64_t v = 0;
        ok_read = reader.ReadLenencInt(&v);
        if (ok_read) {
          consumed = before - reader.remaining();
          Check(consumed == 1 || consumed == 3 || consumed == 4 || consumed == 9);
          std::string encoded;
          AppendLenencInt(encoded, v);
          Check(encoded.size() <= consumed);
          PayloadReader back(encoded);
          uint64_t decoded = 0;
          Check(back.ReadLenencInt(&decoded) && decoded == v && back.empty());
        }
        break;
      }
      case 6: {
        sized = false;
        std::string_view v;
        ok_read = reader.ReadLenencString(&v);
        if (ok_read) {
          consumed = before - reader.remaining();
          Check(consumed > v.size() && consumed - v.size() <= 9);
          std::string encoded;
          AppendLenencString(encoded, v);
          PayloadReader back(encoded);
          std::string_view decoded;
          Check(back.ReadLenencString(&decoded) && decoded == v && back.empty());
        }
        break;
      }
      case 7: {
        sized = false;
        std::string_view v;
        ok_read = reader.ReadNulString(&v);
        if (ok_read) {
          consumed = v.size() + 1;
          Check(v.find('\0') == std::string_view::npos);
        }
        break;
      }
      case 8: {
        std::string_view v;
        const size_t n = op / 10;
        ok_read = reader.ReadBytes(n, &v);
        consumed = n;
        Check(!ok_read || v.size() == n);
        break;
      }
      default: {
        const size_t n = op / 10;
        ok_read = reader.Skip(n);
        consumed = n;
        break;
      }
    }
    if (sized) Check(ok_read == (consumed <= before));
    if (ok_read) {
      Check(reader.remaining() == before - consumed);
    } else {
      Check(reader.remaining() == before);
    }
  }
  const size_t left = reader.remaining();
  Check(reader.ReadRest().size() == left && reader.empty());
}

// ---- 5: ResponseReader over arbitrary messages.

void FuzzResponseStream(std::string_view input) {
  if (input.empty()) return;
  const auto shape = static_cast<ResponseShape>(static_cast<uint8_t>(input[0]) % 7);
  ResponseReader reader(shape);
  std::string_view rest = input.substr(1);
  bool first = true;
  Frame frame;
  while (ReadFrame(rest, &frame) == FrameStatus::kOk) {
    rest.remove_prefix(frame.bytes);
    const ResponseReader::Step step = reader.Next(frame.payload);
    if (shape == ResponseShape::kNone || frame.payload.empty()) {
      Check(step == ResponseReader::Step::kBad);
    }
    if (first && shape == ResponseShape::kOkOrErr && step == ResponseReader::Step::kDone &&
        !reader.failed()) {
      OkPacket ok;
      Check(ParseOk(frame.payload, &ok) && ok.status == reader.status());
    }
    first = false;
    if (step == ResponseReader::Step::kBad) return;
    if (step == ResponseReader::Step::kDone) {
      Check(!reader.failed() || static_cast<uint8_t>(frame.payload[0]) == 0xFF);
      Check(reader.Next(frame.payload) == ResponseReader::Step::kBad);
      Check(reader.Next(std::string_view("\x00\x00\x00\x02\x00\x00\x00", 7)) ==
            ResponseReader::Step::kBad);
      return;
    }
    Check(!reader.failed());
  }
}

// ---- 6: ResponseReader over well-formed responses.

std::string OkPayload(uint16_t status) {
  std::string payload;
  OkPacket ok;
  ok.status = status;
  AppendOk(payload, ok);
  return payload;
}

std::string EofPayload(uint16_t status) {
  std::string payload;
  EofPacket eof;
  eof.status = status;
  AppendEof(payload, eof);
  return payload;
}

std::string ErrPayload() {
  std::string payload;
  AppendErr(payload, 1064, "42000", "error");
  return payload;
}

// A column definition: any non-empty bytes (the reader only counts them).
std::string DefinitionPayload(FuzzedDataProvider& provider) {
  std::string payload = provider.ConsumeRandomLengthString(16);
  return payload.empty() ? std::string(
                               "\x03"
                               "def")
                         : payload;
}

// A row (or a field list's definition): non-empty, neither an EOF nor an ERR.
std::string RowPayload(FuzzedDataProvider& provider) {
  std::string payload = provider.ConsumeRandomLengthString(16);
  if (payload.empty() || static_cast<uint8_t>(payload[0]) == 0xFF ||
      (static_cast<uint8_t>(payload[0]) == 0xFE && payload.size() < 9)) {
    payload.insert(0, 1, '\0');
  }
  return payload;
}

struct Expected {
  std::vector<std::string> messages;
  uint16_t status = 0;
  bool failed = false;
};

void AddDefinitions(FuzzedDataProvider& provider, size_t count, Expected& expected) {
  for (size_t i = 0; i < count; ++i) expected.messages.push_back(DefinitionPayload(provider));
}

// Adds an EOF (or OK) with these flags and takes them as the status so far.
void AddEnd(std::string payload, uint16_t status, Expected& expected) {
  expected.messages.push_back(std::move(payload));
  expected.status = status;
}

void FuzzWellFormedResponse(std::string_view input) {
  FuzzedDataProvider provider(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  const ResponseShape shape = provider.PickValueInArray(
      {ResponseShape::kOkOrErr, ResponseShape::kEofOrErr, ResponseShape::kResults,
       ResponseShape::kPrepare, ResponseShape::kFieldList, ResponseShape::kString,
       ResponseShape::kRows});
  const auto status_bits = [&provider](uint16_t clear) {
    return static_cast<uint16_t>(provider.ConsumeIntegral<uint16_t>() & ~clear);
  };
  Expected expected;
  PreparedStatement statement;
  const bool fails = provider.ConsumeIntegralInRange(0, 7) == 0;
  switch (shape) {
    case ResponseShape::kOkOrErr:
    case ResponseShape::kEofOrErr:
      if (fails) {
        expected.messages.push_back(ErrPayload());
        expected.failed = true;
      } else {
        const uint16_t status = status_bits(0);
        AddEnd(shape == ResponseShape::kOkOrErr ? OkPayload(status) : EofPayload(status), status,
               expected);
      }
      break;
    case ResponseShape::kResults: {
      const int results = provider.ConsumeIntegralInRange(1, 4);
      for (int r = 0; r < results && !expected.failed; ++r) {
        const bool last = r + 1 == results;
        const uint16_t more = last ? 0 : server_status::kMoreResults;
        if (provider.ConsumeBool()) {
          const uint16_t status =
              static_cast<uint16_t>(status_bits(server_status::kMoreResults) | more);
          AddEnd(OkPayload(status), status, expected);
          continue;
        }
        const size_t columns = provider.ConsumeIntegralInRange<size_t>(1, 300);
        std::string count;
        AppendLenencInt(count, columns);
        expected.messages.push_back(count);
        AddDefinitions(provider, columns, expected);
        // A cursor ends the response at the definitions' EOF (the last result only).
        if (last && provider.ConsumeIntegralInRange(0, 3) == 0) {
          const uint16_t status =
              static_cast<uint16_t>(status_bits(0) | server_status::kCursorExists);
          AddEnd(EofPayload(status), status, expected);
          break;
        }
        const uint16_t definitions_status = status_bits(server_status::kCursorExists);
        AddEnd(EofPayload(definitions_status), definitions_status, expected);
        const size_t rows = provider.ConsumeIntegralInRange<size_t>(0, 5);
        for (size_t i = 0; i < rows; ++i) expected.messages.push_back(RowPayload(provider));
        if (fails && provider.ConsumeBool()) {
          expected.messages.push_back(ErrPayload());
          expected.failed = true;
          break;
        }
        const uint16_t status =
            static_cast<uint16_t>(status_bits(server_status::kMoreResults) | more);
        AddEnd(EofPayload(status), status, expected);
      }
      if (fails && !expected.failed) {
        // An ERR as the first message of one more result.
        const uint16_t status = expected.status;
        if (!expected.messages.empty() && (status & server_status::kCursorExists) == 0) {
          std::string& last = expected.messages.back();
          // Make the last end announce more results, then fail.
          if (last[0] == '\0') {
            last = OkPayload(status | server_status::kMoreResults);
          } else {
            last = EofPayload(status | server_status::kMoreResults);
          }
          expected.status = status | server_status::kMoreResults;
          expected.messages.push_back(ErrPayload());
          expected.failed = true;
        }
      }
      break;
    }
    case ResponseShape::kPrepare: {
      if (fails) {
        expected.messages.push_back(ErrPayload());
        expected.failed = true;
        break;
      }
      statement.id = provider.ConsumeIntegral<uint32_t>();
      statement.columns = provider.ConsumeIntegralInRange<uint16_t>(0, 300);
      statement.parameters = provider.ConsumeIntegralInRange<uint16_t>(0, 300);
      std::string ok(1, '\0');
      AppendU32(ok, statement.id);
      AppendU16(ok, statement.columns);
      AppendU16(ok, statement.parameters);
      AppendU8(ok, 0);
      AppendU16(ok, 0);
      expected.messages.push_back(ok);
      if (statement.parameters > 0) {
        AddDefinitions(provider, statement.parameters, expected);
        const uint16_t status = status_bits(0);
        AddEnd(EofPayload(status), status, expected);
      }
      if (statement.columns > 0) {
        AddDefinitions(provider, statement.columns, expected);
        const uint16_t status = status_bits(0);
        AddEnd(EofPayload(status), status, expected);
      }
      break;
    }
    case ResponseShape::kFieldList:
    case ResponseShape::kRows: {
      const size_t rows = provider.ConsumeIntegralInRange<size_t>(0, 8);
      for (size_t i = 0; i < rows; ++i) expected.messages.push_back(RowPayload(provider));
      if (fails) {
        expected.messages.push_back(ErrPayload());
        expected.failed = true;
      } else {
        const uint16_t status = status_bits(0);
        AddEnd(EofPayload(status), status, expected);
      }
      break;
    }
    case ResponseShape::kString: {
      std::string text = provider.ConsumeRandomLengthString(64);
      if (text.empty() || static_cast<uint8_t>(text[0]) == 0xFF) text.insert(0, "Uptime: ");
      expected.messages.push_back(text);
      break;
    }
    case ResponseShape::kNone:
      return;
  }
  ResponseReader reader(shape);
  for (size_t i = 0; i < expected.messages.size(); ++i) {
    const bool last = i + 1 == expected.messages.size();
    Check(reader.Next(expected.messages[i]) ==
          (last ? ResponseReader::Step::kDone : ResponseReader::Step::kMore));
  }
  Check(reader.status() == expected.status);
  Check(reader.failed() == expected.failed);
  Check(reader.Next(OkPayload(0)) == ResponseReader::Step::kBad);
  if (shape == ResponseShape::kPrepare && !expected.failed) {
    Check(reader.prepared().id == statement.id);
    Check(reader.prepared().columns == statement.columns);
    Check(reader.prepared().parameters == statement.parameters);
  }
}

// ---- 7: ScanStatements.

void FuzzStatements(std::string_view input) {
  const SessionUses uses = ScanStatements(input);
  Check(!uses.Has(SessionUse::kTransaction));
  Check(ScanStatements("/* a comment */ " + std::string(input)).bits() == uses.bits());
  Check(ScanStatements("-- a comment\n" + std::string(input)).bits() == uses.bits());
  const SessionUses more = ScanStatements(std::string(input) + "\n;SELECT 1");
  Check((more.bits() & uses.bits()) == uses.bits());
  // A read followed by anything more is no plain read, nor is a locking one.
  Check(!IsPlainRead(std::string(input) + ";"));
  Check(!IsPlainRead(std::string(input) + " FOR UPDATE"));
}

// ---- 8: mysql_native_password.

void FuzzAuth(std::string_view input) {
  FuzzedDataProvider provider(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  const std::string password = provider.ConsumeRandomLengthString(64);
  const std::string nonce = provider.ConsumeBytesAsString(kNonceBytes);
  const Sha1 sha1 = PasswordSha1(password);
  const Sha1 stored = StoredHash(sha1);
  const std::string answer = NativePasswordAnswer(sha1, nonce);
  Check(answer.size() == sha1.size());
  const auto recovered = CheckNativePassword(stored, nonce, answer);
  Check(recovered.has_value() && *recovered == sha1);
  const size_t flip = provider.ConsumeIntegralInRange<size_t>(0, answer.size() - 1);
  std::string changed = answer;
  changed[flip] = static_cast<char>(changed[flip] ^ (1 | provider.ConsumeIntegral<uint8_t>()));
  Check(!CheckNativePassword(stored, nonce, changed).has_value());
  Check(ParseStoredHash(FormatStoredHash(stored)) == stored);

  // Any answer to any stored hash: accepted only if it is the answer of what it recovers.
  const std::string other = provider.ConsumeBytesAsString(sha1.size());
  const auto accepted = CheckNativePassword(stored, nonce, other);
  if (accepted.has_value()) {
    Check(StoredHash(*accepted) == stored && NativePasswordAnswer(*accepted, nonce) == other);
  }
  const std::string text = provider.ConsumeRemainingBytesAsString();
  const auto parsed = ParseStoredHash(text);
  if (parsed.has_value()) {
    std::string upper = text;
    for (char& c : upper) {
      if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
    }
    Check(FormatStoredHash(*parsed) == upper);
  }
}

void FuzzGtid(std::string_view input) {
  const size_t half = input.size() / 2;
  const auto first = ParseGtidPosition(input.substr(0, half));
  const auto second = ParseGtidPosition(input.substr(half));
  for (const auto* parsed : {&first, &second}) {
    if (*parsed) {
      const auto again = ParseGtidPosition(FormatGtidPosition(**parsed));
      Check(again.has_value() && *again == **parsed);
      Check((*parsed)->Covers(**parsed));
    }
  }
  if (first && second) {
    GtidPosition merged = *first;
    merged.Merge(*second);
    Check(merged.Covers(*first) && merged.Covers(*second));
    Check(!first->Covers(*second) || merged == *first);
  }
}

}  // namespace
}  // namespace trellis::proto::mysql

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace mysql = trellis::proto::mysql;
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 11) {
    case 0:
      mysql::FuzzFraming(input);
      break;
    case 1:
      mysql::FuzzGreeting(input);
      break;
    case 2:
      mysql::FuzzHandshakeResponse(input);
      break;
    case 3:
      mysql::FuzzAuthSwitch(input);
      break;
    case 4:
      mysql::FuzzSmallMessages(input);
      break;
    case 5:
      mysql::FuzzResponseStream(input);
      break;
    case 6:
      mysql::FuzzWellFormedResponse(input);
      break;
    case 7:
      mysql::FuzzStatements(input);
      break;
    case 8:
      mysql::FuzzAuth(input);
      break;
    case 9:
      mysql::FuzzAppendMessage(input);
      break;
    default:
      mysql::FuzzGtid(input);
      break;
  }
  return 0;
}
