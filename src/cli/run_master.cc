// `trellis master`: the CMEM master: the cluster map in SQLite under --data, its
// HTTP/JSON API on --listen, node probes and automatic failover. See docs/master.md.
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "admin/admin_server.h"
#include "cli/command.h"
#include "cli/daemon_flags.h"
#include "cli/serve_until_signal.h"
#include "master/master_node.h"
#include "net/signals.h"

namespace trellis::cli {
namespace {

struct MasterFlags {
  DaemonFlags daemon;
  std::string listen = "127.0.0.1:9190";
  std::string data = "trellis-data/master";
  double probe_interval_seconds = 0.5;
  int failure_threshold = 3;
};

int RunMaster(CLI::App& app, const MasterFlags& flags) {
  auto addresses = FinishDaemonFlags(app, flags.daemon, flags.listen);
  if (!addresses) {
    return UsageError(app, addresses.error().message);
  }
  const boost::asio::ip::tcp::endpoint* admin_endpoint = &addresses->admin;
  const boost::asio::ip::tcp::endpoint* listen = &addresses->listen;
  net::BlockTerminationSignals();
  master::MasterOptions options;
  options.data_dir = flags.data;
  options.probe_interval =
      std::chrono::milliseconds(static_cast<int64_t>(flags.probe_interval_seconds * 1000));
  options.failure_threshold = flags.failure_threshold;
  base::Registry metrics;
  auto node = master::MasterNode::Start(options, metrics);
  if (!node) {
    return UsageError(app, "--data: " + node.error().message);
  }
  // The API has an HTTP server of its own, on --listen.
  admin::AdminOptions api_options;
  api_options.listen = *listen;
  api_options.kind = "master";
  api_options.api = (*node)->api();
  auto api = admin::AdminServer::Start(api_options, metrics);
  if (!api) {
    return UsageError(app, "--listen: " + api.error().message);
  }
  master::MasterNode* master = node->get();
  admin::AdminServer* server = api->get();
  return ServeUntilSignal(
      app, flags.daemon, metrics, *admin_endpoint, "master",
      {{"master", "HTTP/JSON API", server->local_endpoint(),
        [master, server](std::chrono::milliseconds drain) {
          server->Stop(drain);
          master->Stop();
        }}},
      /*banner=*/false);
}

}  // namespace

Command AddMasterCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand(
      "master",
      "run the CMEM master: the cluster map (groups, nodes, roles, epochs) in SQLite, an "
      "HTTP/JSON API, health probes, leases that fence mains, and automatic failover");
  auto flags = std::make_shared<MasterFlags>();
  AddDaemonFlags(*app, flags->daemon, "127.0.0.1:0");
  app->add_option("--listen", flags->listen, "HOST:PORT of the HTTP/JSON API")
      ->capture_default_str();
  app->add_option("--data", flags->data, "directory of the map's SQLite file (master.db)")
      ->capture_default_str();
  app->add_option("--probe-interval", flags->probe_interval_seconds,
                  "seconds between health probes of each cache node")
      ->check(CLI::Range(0.05, 60.0))
      ->capture_default_str();
  app->add_option("--failure-threshold", flags->failure_threshold,
                  "failed probes in a row that make a node down (a main is then replaced); "
                  "times --probe-interval, also the length of a main's lease (fencing)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  return {app, [app, flags] { return RunMaster(*app, *flags); }};
}

}  // namespace trellis::cli
