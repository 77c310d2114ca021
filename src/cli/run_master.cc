// `trellis master`: the CMEM master: the cluster map in SQLite under --data (or in etcd,
// shared by several masters of which one leads: --etcd), its HTTP/JSON API on --listen,
// node probes and automatic failover. See docs/master.md and docs/deploy.md.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "daemon/daemon.h"
#include "master/master_node.h"
#include "master/store_migration.h"

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
  std::vector<std::string> etcd;
  std::string etcd_prefix = "/trellis/default";
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
  options.etcd.endpoints = flags.etcd;
  options.etcd.prefix = flags.etcd_prefix;
  options.etcd.tls = options.probe_tls;
  TRELLIS_TRY(auto master, master::MasterNode::Start(options, daemon.metrics()));
  daemon.set_authenticator(master->authenticator());
  daemon.Add(std::move(master));
  return {};
}

struct MigrateFlags {
  std::string from;
  std::vector<std::string> etcd;
  std::string etcd_prefix = "/trellis/default";
  net::TlsClientFiles cluster_tls;
};

base::Result<uint64_t> Migrate(const MigrateFlags& flags) {
  master::EtcdStoreOptions to;
  to.endpoints = flags.etcd;
  to.prefix = flags.etcd_prefix;
  TRELLIS_TRY(to.tls, daemon::ClusterClientTls(flags.cluster_tls));
  return master::MigrateStore(flags.from, to);
}

int RunMigrate(const MigrateFlags& flags) {
  const base::Result<uint64_t> version = Migrate(flags);
  if (!version) {
    std::cerr << "trellis master migrate-store: " << version.error().message << "\n";
    return 1;
  }
  std::cout << "copied the map (version " << *version << ") from " << flags.from
            << "/master.db to etcd under " << flags.etcd_prefix
            << "; start the masters with --etcd now\n";
  return 0;
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
  app->add_option("--etcd", flags->etcd,
                  "keep the map in etcd instead, shared by several masters of which one leads "
                  "(docs/deploy.md): the members' client URLs, comma-separated (https:// ones "
                  "are checked against the cluster's CA)")
      ->delimiter(',');
  app->add_option("--etcd-prefix", flags->etcd_prefix,
                  "the cluster's keys in etcd: one prefix per cluster")
      ->capture_default_str();
  daemon::AddClusterTlsFlags(*app, flags->cluster_tls);

  CLI::App* migrate = app->add_subcommand(
      "migrate-store",
      "copy the map of a stopped SQLite master (--from its --data) into etcd, for masters "
      "started with --etcd to carry on from (docs/deploy.md)");
  auto migrate_flags = std::make_shared<MigrateFlags>();
  migrate->add_option("--from", migrate_flags->from, "the SQLite master's --data directory")
      ->required();
  migrate->add_option("--to-etcd", migrate_flags->etcd, "etcd's client URLs, comma-separated")
      ->required()
      ->delimiter(',');
  migrate
      ->add_option("--etcd-prefix", migrate_flags->etcd_prefix,
                   "the cluster's keys in etcd, as the masters will be given")
      ->capture_default_str();
  daemon::AddClusterTlsFlags(*migrate, migrate_flags->cluster_tls);
  return {app, [app, flags, migrate, migrate_flags] {
            if (migrate->parsed()) {
              return RunMigrate(*migrate_flags);
            }
            return daemon::RunDaemon(
                *app, flags->daemon,
                {"master", false, [&flags](daemon::Daemon& d) { return RunMaster(d, *flags); }});
          }};
}

}  // namespace trellis::cli
