// ServeUntilSignal: the life of a daemon process once its services are started: start
// the admin endpoint, log every address ("<service> listening on HOST:PORT", which tests
// and scripts wait for), optionally print them for people, drop root if asked, wait for
// SIGTERM/SIGINT, then drain and stop the services and the admin endpoint.
//
// Thread safety: call from main's thread only.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <nlohmann/json_fwd.hpp>

#include "admin/admin_server.h"
#include "base/metrics.h"
#include "cli/daemon_flags.h"

namespace CLI {
class App;
}

namespace trellis::cli {

struct RunningService {
  std::string name;      // "cache", "access": the log line and the /v1/status key.
  std::string protocol;  // For the banner: "memcached protocol".
  boost::asio::ip::tcp::endpoint address;
  std::function<void(std::chrono::milliseconds drain)> stop;
};

// `kind` names the daemon in /v1/status; `banner` prints the endpoints for people (up);
// `user`, when set, is who the process becomes once its ports are bound (memcached -u);
// `add_status` and `api` extend the admin endpoint (AdminOptions).
// Returns the process exit code.
// `metrics` is the registry the services report to, served on /metrics.
int ServeUntilSignal(CLI::App& app, const DaemonFlags& flags, base::Registry& metrics,
                     const boost::asio::ip::tcp::endpoint& admin_endpoint, const std::string& kind,
                     std::vector<RunningService> services, bool banner,
                     const std::string& user = "",
                     std::function<void(nlohmann::json& status)> add_status = nullptr,
                     admin::ApiHandler api = nullptr);

}  // namespace trellis::cli
