// LoopbackClient: a blocking TCP client for tests that speak a wire protocol to a server
// on 127.0.0.1 byte by byte, bad input included. Every read has a deadline, so a server
// that hangs fails the test instead of hanging it.
//
// Thread safety: none; one test thread owns a client.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace trellis::testing {

using namespace std::chrono_literals;

class LoopbackClient {
 public:
  // Connects to 127.0.0.1:port; throws std::runtime_error when it cannot.
  explicit LoopbackClient(uint16_t port);
  // The same from another loopback address (127.0.0.2, ...): a client the server sees
  // coming from elsewhere.
  LoopbackClient(uint16_t port, const std::string& source);
  ~LoopbackClient();
  LoopbackClient(const LoopbackClient&) = delete;
  LoopbackClient& operator=(const LoopbackClient&) = delete;

  // Sends all of `bytes`; false if the peer has closed.
  bool Send(std::string_view bytes);
  // Reads until the received bytes end with `terminator`, the peer closes, or the
  // deadline passes; returns what arrived.
  std::string ReadUntil(std::string_view terminator, std::chrono::milliseconds timeout = 5s);
  // Reads until the peer closes the connection or the deadline passes.
  std::string ReadUntilClosed(std::chrono::milliseconds timeout = 5s);
  // True if the peer closed the connection within `timeout` (reading and dropping bytes).
  bool WaitClosed(std::chrono::milliseconds timeout = 5s);

 private:
  // Reads once, waiting up to `timeout`; nullopt on timeout, "" on close.
  std::optional<std::string> ReadSome(std::chrono::milliseconds timeout);
  // Reads until `terminator` ends the bytes (never, if empty), the peer closes (sets
  // *closed) or the deadline passes.
  std::string Collect(std::string_view terminator, std::chrono::milliseconds timeout, bool* closed);
  int fd_ = -1;
};

struct HttpResponse {
  int status = 0;  // 0 when no valid status line arrived.
  std::string headers;
  std::string body;
};

// Parses a whole HTTP/1.1 response (status line, headers, body after the blank line).
HttpResponse ParseHttpResponse(const std::string& raw);

// Polls `done` every `interval` until it holds (true) or `patience` passed (false). A
// test waits for something to happen with this, never with a bare sleep.
bool Eventually(const std::function<bool()>& done, std::chrono::milliseconds patience,
                std::chrono::milliseconds interval = 20ms);

// Polls `stats` on the memcached port until the reply has the line `stat` (e.g.
// "STAT replication_backups 1"), or `patience` passed (false).
bool StatsShow(uint16_t port, const std::string& stat, std::chrono::milliseconds patience);

// Polls until something accepts connections on 127.0.0.1:port, or the deadline passes.
bool WaitForPort(uint16_t port, std::chrono::milliseconds timeout = 10s);

// GET http://127.0.0.1:port/path through http::Client, on a connection of its own; throws
// std::runtime_error when no answer comes (refused, closed, none within 5 s). `headers`
// is rebuilt from what arrived: a status line and one "Name: value" line per header.
HttpResponse HttpGet(uint16_t port, const std::string& path);
// Any method, with `body` (sent as application/json when not empty), likewise.
HttpResponse HttpRequest(uint16_t port, const std::string& method, const std::string& path,
                         const std::string& body);
// The same at another loopback address (127.0.0.11, ...).
HttpResponse HttpRequestAt(const std::string& host, uint16_t port, const std::string& method,
                           const std::string& path, const std::string& body);
HttpResponse HttpGetAt(const std::string& host, uint16_t port, const std::string& path);
// The same with "Authorization: Bearer `token`" ("": none).
HttpResponse TokenRequest(uint16_t port, const std::string& token, const std::string& method,
                          const std::string& path, const std::string& body);
// All of these: a request to HOST:PORT `address` with `token` ("": none).
HttpResponse Request(const std::string& address, const std::string& token,
                     const std::string& method, const std::string& path, const std::string& body);

}  // namespace trellis::testing
