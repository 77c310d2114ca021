// `trellis access`: the stateless memcached-protocol proxy in front of cache groups.
// Keys route by slot to each group's main; see docs/access.md.
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "access/access_node.h"
#include "access/route_follower.h"
#include "access/route_table.h"
#include "cli/command.h"
#include "daemon/daemon.h"
#include "master/client/master_authenticator.h"

namespace trellis::cli {
namespace {

struct AccessFlags {
  daemon::DaemonFlags daemon;
  std::string listen = "127.0.0.1:11211";
  int threads = 4;
  std::vector<std::string> groups;
  std::chrono::milliseconds backend_timeout{2000};
  size_t max_connections = 4096;
  std::chrono::milliseconds idle_timeout{0};
  bool read_from_backup = false;
  bool auth = false;
  std::string master;
  std::string token_file;
  net::TlsClientFiles cluster_tls;
  net::TlsServerFiles tls;
};

// What the node starts with: the table of --group flags, or the table and tenants of
// the master's map (waiting up to 10 s for the master).
struct FirstMap {
  std::shared_ptr<const access::RouteTable> table;
  std::vector<master::TenantState> tenants;
};

base::Result<FirstMap> FirstRoutes(const AccessFlags& flags, const master::MasterAccess& master) {
  if (!flags.master.empty()) {
    if (!flags.groups.empty()) {
      return base::InvalidArgument("--group: with --master, the master's map gives the groups");
    }
    auto map = access::FetchClusterMap(master, std::chrono::seconds(10));
    if (!map) {
      return base::WithContext("--master", map.error());
    }
    return FirstMap{std::make_shared<const access::RouteTable>(access::RouteTableOf(*map)),
                    std::move(map->tenants)};
  }
  if (flags.auth) {
    return base::InvalidArgument("--auth: tenants come from the master's map (--master)");
  }
  if (flags.groups.empty()) {
    return base::InvalidArgument("--group: at least one group is needed (or --master)");
  }
  std::vector<access::GroupRoute> groups;
  for (const std::string& spec : flags.groups) {
    auto group = access::RouteTable::ParseGroup(spec);
    if (!group) {
      return base::InvalidArgument("--group: " + group.error().message);
    }
    groups.push_back(std::move(group).value());
  }
  return FirstMap{
      std::make_shared<const access::RouteTable>(access::RouteTable::Even(std::move(groups), 1)),
      {}};
}

base::Status RunAccess(daemon::Daemon& daemon, const AccessFlags& flags) {
  access::AccessNodeOptions options;
  TRELLIS_TRY(options.listen, daemon::ResolveFlag("--listen", flags.listen));
  options.threads = flags.threads;
  options.max_connections = flags.max_connections;
  options.idle_timeout = flags.idle_timeout;
  options.read_from_backup = flags.read_from_backup;
  options.require_login = flags.auth;
  if (!flags.tls.certificate.empty()) {
    options.tls = flags.tls;
  }
  options.backend.timeout = flags.backend_timeout;
  TRELLIS_TRY(const master::MasterAccess master,
              daemon::MasterAccessOf(flags.master, flags.token_file, flags.cluster_tls));
  options.backend.tls = master.tls;  // The cluster's: mutual TLS with the cache nodes.
  if (flags.auth) {
    options.master = master;
  }
  TRELLIS_TRY(FirstMap first, FirstRoutes(flags, master));
  TRELLIS_TRY(auto node, access::AccessNode::Start(options, first.table, daemon.metrics()));
  access::AccessNode& proxy = *node;
  proxy.SetTenants(first.tenants);
  daemon.Add(std::move(node));
  if (!flags.master.empty()) {
    TRELLIS_TRY(auto follower, access::RouteFollower::Start(master, proxy));
    daemon.Add(std::move(follower));
    daemon.set_authenticator(std::make_shared<master::MasterAuthenticator>(master));
  }
  return {};
}

}  // namespace

Command AddAccessCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand(
      "access",
      "run the access proxy: memcached text and meta protocol in, each key routed by slot "
      "to its group's main; replies in request order");
  auto flags = std::make_shared<AccessFlags>();
  daemon::AddDaemonFlags(*app, flags->daemon, "127.0.0.1:0");
  app->add_option("--listen", flags->listen, "HOST:PORT for memcached clients")
      ->capture_default_str();
  app->add_option("-t,--threads", flags->threads,
                  "worker threads; each keeps its own "
                  "connection to every cache node")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app->add_option("--master", flags->master,
                  "http://HOST:PORT of the master (or of each master, comma-separated): route by "
                  "its cluster map and follow every "
                  "change (instead of --group)");
  daemon::AddTokenFileFlag(*app, flags->token_file);
  daemon::AddClusterTlsFlags(*app, flags->cluster_tls);
  app->add_flag("--auth", flags->auth,
                "clients must log in as a tenant (`trellis tenant create`) with memcached's "
                "ASCII authentication, then reach only that tenant's keys (needs --master)");
  app->add_option("--group", flags->groups,
                  "NAME=HOST:PORT[,HOST:PORT...]: a group, its main first, then backups; "
                  "repeat for each group (slots are split evenly in the order given)");
  daemon::AddDurationFlag(*app,
                          {"--backend-timeout",
                           "how long a cache node may take to answer before its requests fail "
                           "with SERVER_ERROR",
                           std::chrono::milliseconds(1), std::chrono::hours(1)},
                          flags->backend_timeout);
  app->add_flag("--read-from-backup", flags->read_from_backup,
                "send get, gets and meta gets that change nothing to the group's backups in "
                "turn (reads what a backup has applied; reads go on while a group has no main)");
  app->add_option("-c,--max-connections", flags->max_connections, "client connections at most")
      ->capture_default_str();
  daemon::AddDurationFlag(*app, {"--idle-timeout", "close clients idle this long (0: never)"},
                          flags->idle_timeout);
  daemon::AddTlsFlags(*app, "memcached", flags->tls);
  return {app, [app, flags] {
            return daemon::RunDaemon(
                *app, flags->daemon,
                {"access", false, [&flags](daemon::Daemon& d) { return RunAccess(d, *flags); }});
          }};
}

}  // namespace trellis::cli
