// TlsClient: a TLS client for tests that speak a line protocol to a server on
// 127.0.0.1: it verifies the server's certificate against a CA file and the address
// 127.0.0.1, and shows a client certificate when given one (mutual TLS). Every step has
// a deadline of 5 s, so a server that hangs fails the test instead of hanging it.
//
// Thread safety: none; one test thread owns a client.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "testing/nginx.h"

namespace trellis::testing {

class TlsClient {
 public:
  // Connects and runs the handshake; connected() says whether both worked.
  TlsClient(uint16_t port, const std::filesystem::path& ca,
            const std::optional<Certificate>& identity);
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  bool connected() const { return connected_; }
  // Sends `request` and reads until what arrived ends with `terminator`; what arrived
  // ("" if the server refused, closed or took too long).
  std::string Exchange(const std::string& request, const std::string& terminator);

 private:
  struct Stream;
  std::unique_ptr<Stream> stream_;
  bool connected_ = false;
};

}  // namespace trellis::testing
