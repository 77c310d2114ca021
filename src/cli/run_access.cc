// `trellis access`: the stateless memcached-protocol proxy in front of cache groups.
// Keys route by slot to each group's main; see docs/access.md.
#include <memory>
#include <thread>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "access/access_node.h"
#include "access/route_table.h"
#include "cli/command.h"
#include "cli/daemon_flags.h"
#include "cli/master_following.h"
#include "cli/serve_until_signal.h"
#include "net/signals.h"

namespace trellis::cli {
namespace {

struct AccessFlags {
  DaemonFlags daemon;
  std::string listen = "127.0.0.1:11211";
  int threads = 4;
  std::vector<std::string> groups;
  double backend_timeout_seconds = 2;
  size_t max_connections = 4096;
  double idle_timeout_seconds = 0;
  bool read_from_backup = false;
  std::string master;
};

int RunAccess(CLI::App& app, const AccessFlags& flags) {
  auto addresses = FinishDaemonFlags(app, flags.daemon, flags.listen);
  if (!addresses) {
    return UsageError(app, addresses.error().message);
  }
  const boost::asio::ip::tcp::endpoint* admin_endpoint = &addresses->admin;
  const boost::asio::ip::tcp::endpoint* listen = &addresses->listen;
  std::vector<access::GroupRoute> groups;
  for (const std::string& spec : flags.groups) {
    auto group = access::RouteTable::ParseGroup(spec);
    if (!group) {
      return UsageError(app, "--group: " + group.error().message);
    }
    groups.push_back(std::move(group).value());
  }
  std::optional<master::MasterClient> master;
  std::shared_ptr<const access::RouteTable> table;
  if (!flags.master.empty()) {
    if (!groups.empty()) {
      return UsageError(app, "--group: with --master, the master's map gives the groups");
    }
    auto client = master::MasterClient::ForUrl(flags.master);
    if (!client) {
      return UsageError(app, "--master: " + client.error().message);
    }
    master = *client;
    // The first map before the first client: wait for the master a while.
    auto map = master->Call("GET", "/v1/cluster", "", std::chrono::seconds(2));
    for (int i = 0; i < 50 && !map; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      map = master->Call("GET", "/v1/cluster", "", std::chrono::seconds(2));
    }
    if (!map) {
      return UsageError(app, "--master: " + map.error().message);
    }
    table = std::make_shared<access::RouteTable>(RouteTableOf(*map));
  } else if (groups.empty()) {
    return UsageError(app, "--group: at least one group is needed (or --master)");
  } else {
    table = std::make_shared<access::RouteTable>(access::RouteTable::Even(std::move(groups), 1));
  }
  access::AccessNodeOptions options;
  options.listen = *listen;
  options.threads = flags.threads;
  options.max_connections = flags.max_connections;
  options.idle_timeout =
      std::chrono::milliseconds(static_cast<int64_t>(flags.idle_timeout_seconds * 1000));
  options.read_from_backup = flags.read_from_backup;
  options.backend.timeout =
      std::chrono::milliseconds(static_cast<int64_t>(flags.backend_timeout_seconds * 1000));

  net::BlockTerminationSignals();
  base::Registry metrics;
  auto node = access::AccessNode::Start(options, table, metrics);
  if (!node) {
    return UsageError(app, node.error().message);
  }
  access::AccessNode* proxy = node->get();
  MasterFollower follower;
  if (master) {
    follower.Run([&master, proxy](const std::atomic<bool>& stop) {
      FollowAsAccessNode(*master, *proxy, stop);
    });
  }
  return ServeUntilSignal(
      app, flags.daemon, metrics, *admin_endpoint, "access",
      {{"access", "memcached protocol", proxy->local_endpoint(),
        [proxy](std::chrono::milliseconds drain) { proxy->Stop(drain); }}},
      /*banner=*/false, /*user=*/"", [proxy](nlohmann::json& status) {
        status["route_table"] = {{"version", proxy->route_table_version()}};
      });
}

}  // namespace

Command AddAccessCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand(
      "access",
      "run the access proxy: memcached text and meta protocol in, each key routed by slot "
      "to its group's main; replies in request order");
  auto flags = std::make_shared<AccessFlags>();
  AddDaemonFlags(*app, flags->daemon, "127.0.0.1:0");
  app->add_option("--listen", flags->listen, "HOST:PORT for memcached clients")
      ->capture_default_str();
  app->add_option("-t,--threads", flags->threads, "worker threads; each keeps its own "
                                                  "connection to every cache node")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app->add_option("--master", flags->master,
                  "http://HOST:PORT of the master: route by its cluster map and follow every "
                  "change (instead of --group)");
  app->add_option("--group", flags->groups,
                  "NAME=HOST:PORT[,HOST:PORT...]: a group, its main first, then backups; "
                  "repeat for each group (slots are split evenly in the order given)");
  app->add_option("--backend-timeout", flags->backend_timeout_seconds,
                  "seconds a cache node may take to answer before its requests fail with "
                  "SERVER_ERROR")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app->add_flag("--read-from-backup", flags->read_from_backup,
                "send get, gets and meta gets that change nothing to the group's backups in "
                "turn (reads what a backup has applied; reads go on while a group has no main)");
  app->add_option("-c,--max-connections", flags->max_connections, "client connections at most")
      ->capture_default_str();
  app->add_option("--idle-timeout", flags->idle_timeout_seconds,
                  "close clients idle this many seconds (0: never)")
      ->capture_default_str();
  return {app, [app, flags] { return RunAccess(*app, *flags); }};
}

}  // namespace trellis::cli
