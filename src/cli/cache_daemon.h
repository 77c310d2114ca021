// RunCacheDaemon: the life of a process that serves a cache node and the admin endpoint
// (`trellis cache`, and `trellis up` while the platform is one node): start both, log
// their addresses, wait for SIGTERM/SIGINT, drain, stop.
//
// Thread safety: call from main's thread only.
#pragma once

#include <optional>
#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "cache/cache_node.h"
#include "master/client/master_client.h"
#include "cli/daemon_flags.h"

namespace CLI {
class App;
}

namespace trellis::cli {

// A node's place in a cluster: it registers with `master` in `group` as `address`
// (HOST:PORT that the master and the other nodes reach it at; empty: its listen address)
// and follows the role the master gives it.
struct MasterMembership {
  master::MasterClient master;
  std::string group;
  std::string address;
};

// `kind` names the daemon in /v1/status; `banner` prints the endpoints for people (up);
// `user`, when set, is who the process becomes once its ports are bound (memcached -u).
// Returns the process exit code.
int RunCacheDaemon(CLI::App& app, const DaemonFlags& flags,
                   const boost::asio::ip::tcp::endpoint& admin_endpoint,
                   const cache::CacheNodeOptions& options, const std::string& kind, bool banner,
                   const std::string& user = "",
                   const std::optional<MasterMembership>& membership = std::nullopt);

}  // namespace trellis::cli
