#include "testing/loopback_client.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <thread>

#include <boost/beast/http/status.hpp>

#include "http/client.h"

namespace trellis::testing {

LoopbackClient::LoopbackClient(uint16_t port) : LoopbackClient(port, "127.0.0.1") {}

LoopbackClient::LoopbackClient(uint16_t port, const std::string& source) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  if (fd_ < 0 || ::inet_pton(AF_INET, source.c_str(), &from.sin_addr) != 1 ||
      ::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof(from)) != 0) {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    throw std::runtime_error("cannot bind a client socket to " + source);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
  }
}

LoopbackClient::~LoopbackClient() { ::close(fd_); }

bool LoopbackClient::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::optional<std::string> LoopbackClient::ReadSome(std::chrono::milliseconds timeout) {
  pollfd pfd{fd_, POLLIN, 0};
  if (::poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) {
    return std::nullopt;
  }
  char buf[65536];
  const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
  return n <= 0 ? std::string() : std::string(buf, static_cast<size_t>(n));
}

std::string LoopbackClient::Collect(std::string_view terminator, std::chrono::milliseconds timeout,
                                    bool* closed) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string received;
  while (terminator.empty() || !received.ends_with(terminator)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    std::optional<std::string> chunk;
    if (left.count() <= 0 || !(chunk = ReadSome(left))) {
      break;
    }
    if (chunk->empty()) {
      *closed = true;
      break;
    }
    received += *chunk;
  }
  return received;
}

std::string LoopbackClient::ReadUntil(std::string_view terminator,
                                      std::chrono::milliseconds timeout) {
  bool closed = false;
  return Collect(terminator, timeout, &closed);
}

std::string LoopbackClient::ReadUntilClosed(std::chrono::milliseconds timeout) {
  bool closed = false;
  return Collect("", timeout, &closed);
}

bool LoopbackClient::WaitClosed(std::chrono::milliseconds timeout) {
  bool closed = false;
  Collect("", timeout, &closed);
  return closed;
}

bool Eventually(const std::function<bool()>& done, std::chrono::milliseconds patience,
                std::chrono::milliseconds interval) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(interval);
  }
  return true;
}

bool StatsShow(uint16_t port, const std::string& stat, std::chrono::milliseconds patience) {
  LoopbackClient client(port);
  return Eventually(
      [&] {
        client.Send("stats\r\n");
        return client.ReadUntil("END\r\n").find(stat + "\r\n") != std::string::npos;
      },
      patience);
}

bool WaitForPort(uint16_t port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      LoopbackClient probe(port);
      return true;
    } catch (const std::runtime_error&) {
      std::this_thread::sleep_for(10ms);  // Polling a port that is not open yet.
    }
  }
  return false;
}

HttpResponse ParseHttpResponse(const std::string& raw) {
  HttpResponse response;
  const size_t header_end = raw.find("\r\n\r\n");
  if (!raw.starts_with("HTTP/1.") || header_end == std::string::npos) {
    return response;
  }
  response.status = std::atoi(raw.c_str() + raw.find(' ') + 1);
  response.headers = raw.substr(0, header_end + 2);
  response.body = raw.substr(header_end + 4);
  return response;
}

HttpResponse HttpRequest(uint16_t port, const std::string& method, const std::string& path,
                         const std::string& body) {
  return TokenRequest(port, "", method, path, body);
}

HttpResponse HttpRequestAt(const std::string& host, uint16_t port, const std::string& method,
                           const std::string& path, const std::string& body) {
  return Request(host + ":" + std::to_string(port), "", method, path, body);
}

HttpResponse HttpGetAt(const std::string& host, uint16_t port, const std::string& path) {
  return HttpRequestAt(host, port, "GET", path, "");
}

HttpResponse TokenRequest(uint16_t port, const std::string& token, const std::string& method,
                          const std::string& path, const std::string& body) {
  return Request("127.0.0.1:" + std::to_string(port), token, method, path, body);
}

HttpResponse Request(const std::string& address, const std::string& token,
                     const std::string& method, const std::string& path, const std::string& body) {
  namespace asio = boost::asio;
  const base::Result<http::Response> response = http::RunBlocking(
      [&](asio::any_io_executor executor) -> asio::awaitable<base::Result<http::Response>> {
        TRELLIS_CO_TRY(http::Client client, http::Client::ForUrl(executor, address));
        client.set_token(token);
        co_return co_await client.Call(http::beast_http::string_to_verb(method), path, body, 5s);
      });
  if (!response) {
    throw std::runtime_error(response.error().message);
  }
  HttpResponse out;
  out.status = response->status;
  out.headers = fmt::format("HTTP/1.1 {} {}\r\n", response->status,
                            std::string_view(http::beast_http::obsolete_reason(
                                static_cast<http::beast_http::status>(response->status))));
  for (const auto& [name, value] : response->headers) {
    out.headers += name + ": " + value + "\r\n";
  }
  out.body = response->body;
  return out;
}

HttpResponse HttpGet(uint16_t port, const std::string& path) {
  return HttpRequest(port, "GET", path, "");
}

}  // namespace trellis::testing
