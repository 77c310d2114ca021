#include "testing/held_port.h"

#include <stdexcept>

#include <boost/asio/ip/address_v4.hpp>

namespace trellis::testing {

HeldPort::HeldPort() {
  base::Result<net::ReservedPort> reserved =
      net::ReservedPort::Reserve({boost::asio::ip::address_v4::loopback(), 0});
  if (!reserved) {
    throw std::runtime_error(reserved.error().message);
  }
  port_ = reserved->endpoint().port();
  hold_.emplace(std::move(reserved).value());
}

std::string HeldPort::address() const { return "127.0.0.1:" + std::to_string(port_); }

}  // namespace trellis::testing
