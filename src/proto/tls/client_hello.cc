#include "proto/tls/client_hello.h"

#include <string>
#include <utility>

namespace trellis::proto::tls {

namespace {

constexpr uint8_t kContentTypeHandshake = 22;
constexpr uint8_t kHandshakeTypeClientHello = 1;
constexpr size_t kRecordHeaderLength = 5;
constexpr size_t kHandshakeHeaderLength = 4;
// TLSPlaintext.length MUST NOT exceed 2^14 (RFC 8446 section 5.1).
constexpr size_t kMaxRecordLength = 1 << 14;
constexpr uint16_t kExtensionServerName = 0;
constexpr uint16_t kExtensionAlpn = 16;
constexpr uint8_t kNameTypeHostName = 0;
constexpr size_t kMaxHostNameLength = 255;

// Reads big-endian integers and length-prefixed vectors off the front of a byte string.
// A read past the end fails and leaves the reader where it was.
class ByteReader {
 public:
  explicit ByteReader(std::string_view bytes) : rest_(bytes) {}

  bool empty() const { return rest_.empty(); }

  bool ReadU8(uint8_t* out) {
    uint64_t value = 0;
    if (!ReadInt(1, &value)) return false;
    *out = static_cast<uint8_t>(value);
    return true;
  }

  bool ReadU16(uint16_t* out) {
    uint64_t value = 0;
    if (!ReadInt(2, &value)) return false;
    *out = static_cast<uint16_t>(value);
    return true;
  }

  bool Skip(size_t n) {
    std::string_view ignored;
    return ReadBytes(n, &ignored);
  }

  // A vector<min..max> with a `width`-byte length prefix whose length is a multiple of
  // `unit` (RFC 8446 section 3.4).
  bool ReadVector(size_t width, size_t min, size_t max, std::string_view* out, size_t unit = 1) {
    std::string_view saved = rest_;
    uint64_t length = 0;
    if (!ReadInt(width, &length) || length < min || length > max || length % unit != 0 ||
        !ReadBytes(length, out)) {
      rest_ = saved;
      return false;
    }
    return true;
  }

 private:
  bool ReadInt(size_t width, uint64_t* out) {
    if (rest_.size() < width) return false;
    uint64_t value = 0;
    for (size_t i = 0; i < width; ++i) {
      value = (value << 8) | static_cast<uint8_t>(rest_[i]);
    }
    rest_.remove_prefix(width);
    *out = value;
    return true;
  }

  bool ReadBytes(size_t n, std::string_view* out) {
    if (rest_.size() < n) return false;
    *out = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return true;
  }

  std::string_view rest_;
};

uint32_t BigEndian(std::string_view bytes) {
  uint32_t value = 0;
  for (const char c : bytes) {
    value = (value << 8) | static_cast<uint8_t>(c);
  }
  return value;
}

bool IsHostNameByte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

// RFC 6066 section 3: a ServerNameList of at most one name per type; host_name is ASCII
// "without a trailing dot". Other name types, none defined yet, are skipped: the RFC has
// every future type begin with a 16-bit length.
bool ParseServerName(std::string_view data, std::string* server_name) {
  ByteReader extension(data);
  std::string_view list_bytes;
  if (!extension.ReadVector(2, 1, 0xffff, &list_bytes) || !extension.empty()) return false;
  ByteReader list(list_bytes);
  bool have_host_name = false;
  while (!list.empty()) {
    uint8_t name_type = 0;
    std::string_view name;
    if (!list.ReadU8(&name_type) || !list.ReadVector(2, 1, 0xffff, &name)) return false;
    if (name_type != kNameTypeHostName) continue;
    if (have_host_name || name.size() > kMaxHostNameLength || name.back() == '.') return false;
    have_host_name = true;
    server_name->clear();
    for (const char c : name) {
      if (!IsHostNameByte(c)) return false;
      server_name->push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    }
  }
  return true;
}

// RFC 7301 section 3.1: a ProtocolNameList<2..2^16-1> of non-empty names.
bool ParseAlpn(std::string_view data, std::vector<std::string>* alpn) {
  ByteReader extension(data);
  std::string_view list_bytes;
  if (!extension.ReadVector(2, 2, 0xffff, &list_bytes) || !extension.empty()) return false;
  ByteReader list(list_bytes);
  while (!list.empty()) {
    std::string_view name;
    if (!list.ReadVector(1, 1, 0xff, &name)) return false;
    alpn->emplace_back(name);
  }
  return true;
}

// The body of a ClientHello handshake message (RFC 8446 section 4.1.2), which must fill
// `body` exactly.
bool ParseClientHelloBody(std::string_view body, ClientHello* hello) {
  ByteReader reader(body);
  std::string_view ignored;
  if (!reader.ReadU16(&hello->legacy_version) || !reader.Skip(32) ||  // random
      !reader.ReadVector(1, 0, 32, &ignored) ||                       // legacy_session_id
      !reader.ReadVector(2, 2, 0xfffe, &ignored, 2) ||                // cipher_suites
      !reader.ReadVector(1, 1, 0xff, &ignored)) {                     // compression methods
    return false;
  }
  // A TLS 1.2 hello may end here (RFC 5246 section 7.4.1.2); a 1.3 one has extensions.
  if (reader.empty()) return true;
  std::string_view extensions_bytes;
  if (!reader.ReadVector(2, 0, 0xffff, &extensions_bytes) || !reader.empty()) return false;
  ByteReader extensions(extensions_bytes);
  // RFC 8446 section 4.2 forbids repeating an extension; of the two read here, a second
  // copy could make two readers route the same hello differently.
  bool seen_server_name = false;
  bool seen_alpn = false;
  while (!extensions.empty()) {
    uint16_t type = 0;
    std::string_view data;
    if (!extensions.ReadU16(&type) || !extensions.ReadVector(2, 0, 0xffff, &data)) return false;
    if (type == kExtensionServerName) {
      if (seen_server_name || !ParseServerName(data, &hello->server_name)) return false;
      seen_server_name = true;
    } else if (type == kExtensionAlpn) {
      if (seen_alpn || !ParseAlpn(data, &hello->alpn)) return false;
      seen_alpn = true;
    }
  }
  return true;
}

}  // namespace

HelloStatus ParseClientHello(std::string_view input, ClientHello* hello, size_t* needed) {
  // The handshake message, gathered from the fragments of the records read so far.
  std::string message;
  // 4 + the message's length once its header has arrived, else 0.
  size_t message_size = 0;
  size_t pos = 0;  // Start of the next record in `input`.
  while (message_size == 0 || message.size() < message_size) {
    const std::string_view record = input.substr(pos);
    if (pos == 0 && !record.empty() && static_cast<uint8_t>(record[0]) != kContentTypeHandshake) {
      return HelloStatus::kNotTls;
    }
    if (record.size() < kRecordHeaderLength) {
      // The next record holds at least the rest of the message, or of its header.
      const size_t missing = message_size != 0 ? message_size - message.size()
                                               : kHandshakeHeaderLength - message.size();
      *needed = pos + kRecordHeaderLength + missing;
      return HelloStatus::kNeedMore;
    }
    const uint8_t content_type = static_cast<uint8_t>(record[0]);
    const uint8_t major = static_cast<uint8_t>(record[1]);
    const uint8_t minor = static_cast<uint8_t>(record[2]);
    const size_t length = BigEndian(record.substr(3, 2));
    // Handshake records may not interleave with other types, nor be empty (RFC 8446
    // section 5.1); versions run from SSL 3.0 (3,0) to TLS 1.3's (3,4).
    if (content_type != kContentTypeHandshake || major != 3 || minor > 4 || length == 0 ||
        length > kMaxRecordLength) {
      return HelloStatus::kBad;
    }
    const std::string_view fragment = record.substr(kRecordHeaderLength, length);
    const size_t before = message.size();
    message.append(fragment);
    if (message_size == 0 && message.size() >= kHandshakeHeaderLength) {
      if (static_cast<uint8_t>(message[0]) != kHandshakeTypeClientHello) return HelloStatus::kBad;
      message_size = kHandshakeHeaderLength + BigEndian(std::string_view(message).substr(1, 3));
      if (message_size > kMaxHelloLength) return HelloStatus::kBad;
    }
    // The ClientHello must end on a record boundary (RFC 8446 section 5.1).
    if (message_size != 0 && before + length > message_size) return HelloStatus::kBad;
    if (fragment.size() < length) {
      *needed = pos + kRecordHeaderLength + length;
      return HelloStatus::kNeedMore;
    }
    pos += kRecordHeaderLength + length;
  }
  ClientHello parsed;
  if (!ParseClientHelloBody(std::string_view(message).substr(kHandshakeHeaderLength), &parsed)) {
    return HelloStatus::kBad;
  }
  *hello = std::move(parsed);
  return HelloStatus::kOk;
}

}  // namespace trellis::proto::tls
