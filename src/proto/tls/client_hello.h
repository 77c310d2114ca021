// A reader of the TLS ClientHello: the first bytes a client sends, in, the server name
// (SNI) and ALPN protocols it asks for, out; no I/O, no OpenSSL, no decryption.
// The gateway uses it to route a TLS connection by SNI without terminating it: it peeks
// at the hello, picks a backend by server_name, then forwards every byte untouched.
//
// It follows RFC 8446 section 4.1.2 (the ClientHello), RFC 6066 section 3 (server_name)
// and RFC 7301 (ALPN). It is strict on lengths, since the input comes from anyone: every
// length is checked against what contains it, a hello must end on a record boundary
// (RFC 8446 section 5.1) and a server name must be a plain host name, so that two
// readers of the same bytes cannot disagree on where a connection goes. It is lenient
// on what routing does not need: unknown extensions are skipped, record versions from
// SSL 3.0 to TLS 1.3 are accepted, cipher suites and the random are not interpreted.
//
// Thread safety: a pure function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace trellis::proto::tls {

enum class HelloStatus {
  kOk,        // *hello holds the parsed ClientHello.
  kNeedMore,  // A prefix of a hello: read until the input has *needed bytes, call again.
  kNotTls,    // The first byte is not a handshake record (plain HTTP, say): not TLS.
  kBad,       // A handshake record that does not hold a well-formed ClientHello.
};

struct ClientHello {
  // The host_name of the server_name extension, lowercased; "" if the client sent none.
  // Invariant: empty, or 1..255 bytes of [a-z0-9._-] without a trailing dot.
  std::string server_name;
  // The protocol names of the ALPN extension, in the client's order of preference.
  std::vector<std::string> alpn;
  // ClientHello.legacy_version: 0x0303 from TLS 1.2 and 1.3 clients (1.3 is announced in
  // supported_versions), 0x0301 from TLS 1.0 clients.
  uint16_t legacy_version = 0;
};

// The longest ClientHello handshake message (its 4-byte header included) accepted. Real
// ones are well under 2 KiB, post-quantum key shares included.
inline constexpr size_t kMaxHelloLength = 64 * 1024;

// Parses the ClientHello at the start of `input`: one or more TLS records of content
// type handshake (22), the handshake message possibly split across them. Bytes after the
// last record of the hello (early data, say) are ignored.
// On kOk, fills *hello. On kNeedMore, sets *needed to a lower bound, greater than
// input.size(), on the total input size that can complete the hello; it grows as record
// headers arrive, and a client sending tiny records can push it past kMaxHelloLength, so
// a caller reading from a socket caps what it buffers. Otherwise leaves both alone.
// REQUIRES: hello and needed are not null.
HelloStatus ParseClientHello(std::string_view input, ClientHello* hello, size_t* needed);

}  // namespace trellis::proto::tls
