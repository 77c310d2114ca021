// ReservedPort: a TCP port held for processes that will listen on it later. The socket is
// bound with SO_REUSEPORT and never listens, so it receives no connections, while the
// daemons given the port (which bind with SO_REUSEPORT too, as the same user) can share
// it and nobody else can take it in between. `trellis up` uses it for its children.
//
// Thread safety: none; a plain owned value.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include "base/result.h"

namespace trellis::net {

class ReservedPort {
 public:
  // Binds `endpoint` (port 0: any free port).
  static base::Result<ReservedPort> Reserve(const boost::asio::ip::tcp::endpoint& endpoint);
  ReservedPort(ReservedPort&& other) noexcept;
  ReservedPort& operator=(ReservedPort&& other) = delete;
  ~ReservedPort();

  const boost::asio::ip::tcp::endpoint& endpoint() const { return endpoint_; }

 private:
  ReservedPort(int fd, boost::asio::ip::tcp::endpoint endpoint)
      : fd_(fd), endpoint_(std::move(endpoint)) {}
  int fd_ = -1;
  boost::asio::ip::tcp::endpoint endpoint_;
};

}  // namespace trellis::net
