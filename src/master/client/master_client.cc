#include "master/client/master_client.h"

#include <algorithm>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "net/address.h"

namespace trellis::master {

namespace asio = boost::asio;

base::Result<MasterClient> MasterClient::ForUrl(const std::string& url) {
  std::string address = url;
  if (address.rfind("http://", 0) == 0) {
    address = address.substr(7);
  }
  while (!address.empty() && address.back() == '/') {
    address.pop_back();
  }
  if (!net::ParseHostPort(address)) {
    return base::Error{"master URL '" + url + "': expected http://HOST:PORT"};
  }
  return MasterClient(address);
}

base::Result<nlohmann::json> MasterClient::Call(const std::string& method, const std::string& path,
                                                const std::string& body,
                                                std::chrono::milliseconds timeout) const {
  auto parsed = net::ParseHostPort(address_);
  auto endpoint = parsed ? net::Resolve(*parsed) : base::Result<asio::ip::tcp::endpoint>(parsed.error());
  if (!endpoint) {
    return endpoint.error();
  }
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  boost::system::error_code error;
  socket.connect(*endpoint, error);
  if (error) {
    return base::Error{"master " + address_ + ": " + error.message()};
  }
  const timeval limit{static_cast<time_t>(timeout.count() / 1000),
                      static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
  const std::string request = method + " " + path + " HTTP/1.1\r\nHost: " + address_ +
                              "\r\nConnection: close\r\nContent-Type: application/json\r\n"
                              "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  asio::write(socket, asio::buffer(request), error);
  std::string reply;
  if (!error) {
    asio::read(socket, asio::dynamic_buffer(reply), error);
  }
  if (error && error != asio::error::eof) {
    return base::Error{"master " + address_ + ": " + error.message()};
  }
  const size_t header_end = reply.find("\r\n\r\n");
  if (reply.rfind("HTTP/1.1 ", 0) != 0 || header_end == std::string::npos) {
    return base::Error{"master " + address_ + ": not an HTTP reply"};
  }
  const int status = std::atoi(reply.c_str() + 9);
  nlohmann::json json = nlohmann::json::parse(reply.substr(header_end + 4), nullptr, false);
  if (json.is_discarded()) {
    return base::Error{"master " + address_ + ": HTTP " + std::to_string(status) +
                       " without a JSON body"};
  }
  if (status >= 400) {
    return base::Error{json.value("error", "HTTP " + std::to_string(status))};
  }
  return json;
}

void MasterClient::Follow(const std::function<void(const nlohmann::json& map)>& apply,
                          const std::function<bool()>& stop, const std::string& node,
                          const Renew& renew) const {
  int64_t version = -1;
  // How long the master may hold a request: each answer renews a main's lease, so a
  // node asks at least six times per lease, and at least four times a second.
  int64_t wait_ms = 0;
  while (!stop()) {
    const std::string path = "/v1/cluster?after=" + std::to_string(std::max<int64_t>(version, 0)) +
                             "&wait=" + std::to_string(wait_ms / 1000.0) +
                             (node.empty() ? "" : "&node=" + node);
    const auto asked = std::chrono::steady_clock::now();
    auto map = Call("GET", path, "", std::chrono::seconds(2));
    if (!map) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    wait_ms = std::clamp<int64_t>(map->value("lease_ms", int64_t{0}) / 6, 10, 250);
    const int64_t seen = map->value("version", int64_t{0});
    if (seen != version) {
      version = seen;
      apply(*map);
    }
    if (renew) {
      renew(*map, asked);
    }
  }
}

}  // namespace trellis::master
