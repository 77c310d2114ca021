// HeldPort: a TCP port on 127.0.0.1 that a test keeps for the daemons it starts on it, so
// that tests running side by side (ctest -j) never share a port and a daemon restarted on
// its old address finds it still free. The socket is bound with SO_REUSEPORT and never
// listens (net::ReservedPort, as `trellis up` holds its children's ports): connecting to
// it is refused, and a `trellis` daemon, which binds with SO_REUSEPORT too, listens on it
// while the test holds it. A peer that binds without SO_REUSEPORT (Debian's memcached)
// cannot: start it with the DaemonProcess constructor that takes the HeldPort, which
// releases it at the last moment.
//
// Thread safety: none; a plain owned value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "net/reserved_port.h"

namespace trellis::testing {

class HeldPort {
 public:
  // Holds a free port; throws std::runtime_error when none can be bound.
  HeldPort();
  HeldPort(HeldPort&& other) noexcept = default;

  uint16_t port() const { return port_; }
  // "127.0.0.1:PORT", as --listen and the daemons' addresses take it.
  std::string address() const;

  // Lets the port go; port() stays valid. Only for peers that cannot share it.
  void Release() { hold_.reset(); }

 private:
  std::optional<net::ReservedPort> hold_;  // Empty once released.
  uint16_t port_ = 0;
};

}  // namespace trellis::testing
