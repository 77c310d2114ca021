// Service: one running part of a daemon process as the daemon's life sees it: a cache
// node, an access proxy, the master, a follower of the master's map. The composition
// root (src/cli/run_<daemon>.cc) starts each service, hands it to its Daemon
// (daemon/daemon.h), and the Daemon logs where it listens, adds it to /v1/status and
// drains it at shutdown, in the reverse order of start: what was started on top of
// something stops before it.
//
// Thread safety: listeners() and Drain() from the daemon's main thread; ReportStatus()
// from the admin endpoint's thread, so it reads only thread-safe state.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <nlohmann/json_fwd.hpp>

#include "base/result.h"

namespace trellis::daemon {

// An address a service serves, for the log line "<name> listening on HOST:PORT" (which
// tests and scripts wait for) and the /v1/status `listen` map.
struct Listener {
  std::string name;      // "cache", "access", "master".
  std::string protocol;  // For people: "memcached protocol".
  boost::asio::ip::tcp::endpoint address;
};

class Service {
 public:
  virtual ~Service() = default;

  virtual std::vector<Listener> listeners() const { return {}; }
  // Adds the service's own fields to the daemon's /v1/status.
  virtual void ReportStatus(nlohmann::json& /*status*/) const {}
  // The daemon's admin endpoint (/metrics, /v1/status) listens on `address` (HOST:PORT):
  // called once, after every service started (a service that registers with the master
  // names its metrics there).
  virtual void AdminListening(const std::string& /*address*/) {}
  // SIGHUP: reads its configuration again and applies it; a bad one is refused (the
  // error says why) and the running one stays. Nothing to reload: OK.
  virtual base::Status Reload() { return {}; }
  // Stops taking new work, lets work in flight finish for up to `timeout`, then stops for
  // good. Returns within about `timeout`, whatever arrives meanwhile. Called once.
  virtual void Drain(std::chrono::milliseconds timeout) = 0;
};

}  // namespace trellis::daemon
