// `trellis master`: the CMEM master: the cluster map in SQLite under --data, its
// HTTP/JSON API on --listen, node probes and automatic failover. See docs/master.md.
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "daemon/daemon.h"
#include "master/master_node.h"

namespace trellis::cli {
namespace {

struct MasterFlags {
  daemon::DaemonFlags daemon;
  std::string listen = "127.0.0.1:9190";
  std::string data = "trellis-data/master";
  size_t max_connections = 16384;
  std::chrono::milliseconds probe_interval{500};
  int failure_threshold = 3;
  std::string admin_token_file;
  net::TlsClientFiles cluster_tls;
};

base::Status RunMaster(daemon::Daemon& daemon, const MasterFlags& flags) {
  master::MasterOptions options;
  TRELLIS_TRY(options.listen, daemon::ResolveFlag("--listen", flags.listen));
  options.data_dir = flags.data;
  options.max_connections = flags.max_connections;
  options.probe_interval = flags.probe_interval;
  options.failure_threshold = flags.failure_threshold;
  options.admin_token_file = flags.admin_token_file;
  TRELLIS_TRY(options.tls, daemon::ClusterServerTls(flags.cluster_tls));
  TRELLIS_TRY(options.probe_tls, daemon::ClusterClientTls(flags.cluster_tls));
  TRELLIS_TRY(auto master, master::MasterNode::Start(options, daemon.metrics()));
  daemon.set_authenticator(master->authenticator());
  daemon.Add(std::move(master));
  return {};
}

}  // namespace

Command AddMasterCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand(
      "master",
      "run the CMEM master: the cluster map (groups, nodes, roles, epochs) in SQLite, an "
      "HTTP/JSON API, health probes, leases that fence mains, and automatic failover");
  auto flags = std::make_shared<MasterFlags>();
  daemon::AddDaemonFlags(*app, flags->daemon, "127.0.0.1:0");
  app->add_option("--listen", flags->listen, "HOST:PORT of the HTTP/JSON API")
      ->capture_default_str();
  app->add_option("--data", flags->data, "directory of the map's SQLite file (master.db)")
      ->capture_default_str();
  app->add_option("-c,--max-connections", flags->max_connections,
                  "most simultaneous API connections; every cache and access node holds one "
                  "long-poll open")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20))
      ->capture_default_str();
  daemon::AddDurationFlag(*app,
                          {"--probe-interval", "time between health probes of each cache node",
                           std::chrono::milliseconds(50), std::chrono::minutes(1)},
                          flags->probe_interval);
  app->add_option("--failure-threshold", flags->failure_threshold,
                  "failed probes in a row that make a node down (a main is then replaced); "
                  "times --probe-interval, also the length of a main's lease (fencing)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app->add_option("--admin-token-file", flags->admin_token_file,
                  "require a token on every API call (docs/security.md): the file of the "
                  "first admin token, written (mode 0600) with a new one if it does not exist");
  daemon::AddClusterTlsFlags(*app, flags->cluster_tls);
  return {app, [app, flags] {
            return daemon::RunDaemon(
                *app, flags->daemon,
                {"master", false, [&flags](daemon::Daemon& d) { return RunMaster(d, *flags); }});
          }};
}

}  // namespace trellis::cli
