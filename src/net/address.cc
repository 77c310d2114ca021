#include "net/address.h"

#include <fmt/format.h>

#include <charconv>

#include <boost/asio/io_context.hpp>

namespace trellis::net {

namespace asio = boost::asio;
using asio::ip::tcp;

base::Result<HostPort> ParseHostPort(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return base::InvalidArgument(fmt::format("'{}' is not HOST:PORT", text));
  }
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);
  if (host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (host.empty() || port_text.empty() || ec != std::errc() ||
      end != port_text.data() + port_text.size() || port > 65535) {
    return base::InvalidArgument(fmt::format("'{}' is not HOST:PORT (port 0-65535)", text));
  }
  return HostPort{std::string(host), static_cast<uint16_t>(port)};
}

base::Result<tcp::endpoint> Resolve(const HostPort& address) {
  boost::system::error_code ec;
  const asio::ip::address ip = asio::ip::make_address(address.host, ec);
  if (!ec) {
    return tcp::endpoint(ip, address.port);
  }
  asio::io_context io;
  tcp::resolver resolver(io);
  auto results = resolver.resolve(address.host, std::to_string(address.port), ec);
  if (ec || results.empty()) {
    return base::InvalidArgument(
        fmt::format("cannot resolve '{}': {}", address.host, ec ? ec.message() : "no address"));
  }
  return results.begin()->endpoint();
}

std::string FormatEndpoint(const tcp::endpoint& endpoint) {
  if (endpoint.address().is_v6()) {
    return fmt::format("[{}]:{}", endpoint.address().to_string(), endpoint.port());
  }
  return fmt::format("{}:{}", endpoint.address().to_string(), endpoint.port());
}

}  // namespace trellis::net
