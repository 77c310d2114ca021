#include "net/reserved_port.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "net/address.h"

namespace trellis::net {

base::Result<ReservedPort> ReservedPort::Reserve(const boost::asio::ip::tcp::endpoint& endpoint) {
  const int fd = socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return base::Error{std::string("socket: ") + std::strerror(errno)};
  }
  const int one = 1;
  boost::asio::ip::tcp::endpoint bound = endpoint;
  socklen_t length = static_cast<socklen_t>(bound.capacity());
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
      bind(fd, endpoint.data(), static_cast<socklen_t>(endpoint.size())) != 0 ||
      getsockname(fd, bound.data(), &length) != 0) {
    const std::string error = std::strerror(errno);
    close(fd);
    return base::Error{"cannot reserve " + FormatEndpoint(endpoint) + ": " + error};
  }
  bound.resize(length);
  return ReservedPort(fd, bound);
}

ReservedPort::ReservedPort(ReservedPort&& other) noexcept
    : fd_(other.fd_), endpoint_(other.endpoint_) {
  other.fd_ = -1;
}

ReservedPort::~ReservedPort() {
  if (fd_ >= 0) {
    close(fd_);
  }
}

}  // namespace trellis::net
