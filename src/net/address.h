// HostPort: a listen or peer address as operators write it, "HOST:PORT" or "[V6]:PORT".
// Flags such as --listen and --admin parse through here so every daemon accepts and
// rejects the same spellings with the same message.
//
// Thread safety: none; a plain value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>

#include "base/result.h"

namespace trellis::net {

struct HostPort {
  std::string host;  // An IP literal or a name; never empty after a successful parse.
  uint16_t port = 0;
};

// Parses "HOST:PORT"; port 0 means "any free port".
base::Result<HostPort> ParseHostPort(std::string_view text);

// Resolves `address` to a TCP endpoint (numeric hosts without a lookup; "localhost" too).
base::Result<boost::asio::ip::tcp::endpoint> Resolve(const HostPort& address);

// "127.0.0.1:11211" or "[::1]:11211".
std::string FormatEndpoint(const boost::asio::ip::tcp::endpoint& endpoint);

}  // namespace trellis::net
