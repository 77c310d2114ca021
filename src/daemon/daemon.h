// Daemon: the life every Trellis daemon process shares, so that a composition root
// (src/cli/run_<daemon>.cc) is flags -> options -> start services -> Run():
//   Prepare  applies --config under the command line, starts logging, blocks the
//            termination signals before any thread starts, raises the open-file limit
//   Add      takes each started service (daemon/service.h)
//   Run      starts the admin endpoint (/healthz, /metrics, /v1/status), drops root if
//            asked, logs "<name> listening on HOST:PORT" for every listener, prints the
//            endpoints for people if asked, waits for SIGTERM or SIGINT, then drains the
//            services in the reverse order of Add, each within --drain-timeout, and
//            stops the admin endpoint last.
//
// Thread safety: the main thread only.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "admin/admin_server.h"
#include "base/metrics.h"
#include "base/result.h"
#include "daemon/flags.h"
#include "daemon/service.h"

namespace CLI {
class App;
}

namespace trellis::daemon {

class Daemon {
 public:
  // `kind` names the daemon in /v1/status ("cache", "master", "up").
  static base::Result<std::unique_ptr<Daemon>> Prepare(CLI::App& app, const DaemonFlags& flags,
                                                       std::string kind);
  ~Daemon();

  // The registry every service reports to, served on /metrics.
  base::Registry& metrics() { return metrics_; }
  const DaemonFlags& flags() const { return flags_; }

  // REQUIRES: `service` is started. Services drain in the reverse order of Add.
  void Add(std::unique_ptr<Service> service);
  // When root: become `user` once the ports are bound (memcached's -u).
  void set_user(std::string user) { user_ = std::move(user); }
  // The daemon's own API on its admin endpoint (admin_server.h), and what to do once the
  // endpoint listens (`trellis up` writes its address down for `trellis cluster`).
  void set_api(admin::ApiHandler api, std::function<void(const std::string& address)> listening) {
    api_ = std::move(api);
    admin_listening_ = std::move(listening);
  }

  // Who may call the admin endpoint (admin/admin_server.h): the master's token table on
  // the master, the master's word on any daemon that has one. Unset: anyone.
  void set_authenticator(std::shared_ptr<http::Authenticator> authenticator) {
    authenticator_ = std::move(authenticator);
  }

  // Returns the process exit code. `banner`: print every endpoint for people.
  int Run(CLI::App& app, bool banner);

 private:
  Daemon(const DaemonFlags& flags, std::string kind, boost::asio::ip::tcp::endpoint admin);
  void DrainAll();

  const DaemonFlags flags_;
  const std::string kind_;
  const boost::asio::ip::tcp::endpoint admin_;
  std::string user_;
  admin::ApiHandler api_;
  std::function<void(const std::string& address)> admin_listening_;
  std::shared_ptr<http::Authenticator> authenticator_;
  base::Registry metrics_;
  std::vector<std::unique_ptr<Service>> services_;  // In the order started.
  size_t drained_ = 0;                              // The last drained_ of services_ are drained.
};

// What RunDaemon needs to know of one kind of daemon.
struct DaemonSpec {
  std::string kind;     // Its name in /v1/status: "cache", "master", "up".
  bool banner = false;  // Print every endpoint for people once up (`trellis up`).
  // Builds the daemon's options from its flags (the config file has been applied by
  // then), starts its services in dependency order and Adds each. An error ends the
  // process with its message and exit code; services already added drain first.
  std::function<base::Status(Daemon& daemon)> start;
};

// The whole life of a daemon process: Prepare, `spec.start`, Run. Returns the exit code.
int RunDaemon(CLI::App& app, const DaemonFlags& flags, const DaemonSpec& spec);

}  // namespace trellis::daemon
