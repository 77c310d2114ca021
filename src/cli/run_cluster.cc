// `trellis cluster`: the operator's view of a CMEM cluster, through the master's API:
// status, add-group, remove-node, failover, set-mode. A table on a terminal, JSON with
// --json. Without --master it asks the master that `trellis up` started from this
// directory (the URL in ./trellis-data/master.url).
#include <fmt/format.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/daemon_flags.h"
#include "master/client/master_client.h"

namespace trellis::cli {
namespace {

struct ClusterFlags {
  std::string master;
  std::string data = "trellis-data";
  bool json = false;
  std::string name;  // add-group, failover, set-mode: the group; remove-node: the address.
  std::string mode;  // set-mode
};

base::Result<master::MasterClient> ClientFor(const ClusterFlags& flags) {
  std::string url = flags.master;
  if (url.empty()) {
    std::ifstream file(flags.data + "/master.url");
    if (!std::getline(file, url)) {
      return base::Error{"no --master, and no " + flags.data +
                         "/master.url (is `trellis up` running here?)"};
    }
  }
  return master::MasterClient::ForUrl(url);
}

void PrintStatus(const nlohmann::json& map) {
  fmt::print("cluster map version {}\n", map.value("version", 0));
  fmt::print("{:<22} {:<10} {:<7} {:>6} {:<6} {:>12} {:>10} {:>6} {:<6} {}\n", "ADDRESS", "GROUP",
             "ROLE", "EPOCH", "MODE", "SEQUENCE", "LAG", "LAG S", "HEALTH", "PID");
  for (const nlohmann::json& group : map.value("groups", nlohmann::json::array())) {
    const auto nodes = group.value("nodes", nlohmann::json::array());
    if (nodes.empty()) {
      fmt::print("{:<22} {:<10} (no nodes)\n", "-", group.value("name", ""));
    }
    for (const nlohmann::json& node : nodes) {
      const uint64_t pid = node.value("pid", uint64_t{0});
      // Seconds behind the main (its last heartbeat's age); "-" before the first one.
      const nlohmann::json lag_ms = node.value("lag_ms", nlohmann::json());
      fmt::print("{:<22} {:<10} {:<7} {:>6} {:<6} {:>12} {:>10} {:>6} {:<6} {}\n",
                 node.value("address", ""), group.value("name", ""), node.value("role", ""),
                 group.value("epoch", 0), group.value("mode", ""), node.value("sequence", 0),
                 node.value("lag", 0),
                 lag_ms.is_number() ? fmt::format("{:.1f}", lag_ms.get<double>() / 1000) : "-",
                 node.value("healthy", false) ? "up" : "DOWN", pid != 0 ? std::to_string(pid) : "-");
    }
  }
}

int RunCluster(CLI::App& app, const std::string& action, const ClusterFlags& flags) {
  auto client = ClientFor(flags);
  if (!client) {
    return UsageError(app, client.error().message);
  }
  // A switchover may wait for a backup to catch up (5 s at most) and for a lease to run out.
  const auto timeout = std::chrono::seconds(15);
  base::Result<nlohmann::json> reply = base::Error{"unknown action"};
  if (action == "status") {
    reply = client->Call("GET", "/v1/cluster", "", timeout);
  } else if (action == "add-group") {
    reply = client->Call("POST", "/v1/groups", nlohmann::json{{"name", flags.name}}.dump(), timeout);
  } else if (action == "remove-node") {
    reply = client->Call("DELETE", "/v1/nodes/" + flags.name, "", timeout);
  } else if (action == "failover") {
    reply = client->Call("POST", "/v1/groups/" + flags.name + "/failover", "", timeout);
  } else if (action == "set-mode") {
    reply = client->Call("POST", "/v1/groups/" + flags.name + "/mode",
                         nlohmann::json{{"mode", flags.mode}}.dump(), timeout);
  }
  if (!reply) {
    return UsageError(app, reply.error().message);
  }
  if (flags.json || (action != "status" && !isatty(STDOUT_FILENO))) {
    fmt::print("{}\n", reply->dump());
  } else if (action == "status") {
    PrintStatus(*reply);
  } else {
    fmt::print("ok: {}\n", reply->dump());
  }
  return 0;
}

}  // namespace

Command AddClusterCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand(
      "cluster", "look at and change a CMEM cluster through its master");
  app->require_subcommand(1);
  app->fallthrough();  // --master and --json also after the action.
  auto flags = std::make_shared<ClusterFlags>();
  app->add_option("--master", flags->master,
                  "http://HOST:PORT of the master (default: the one `trellis up` started from "
                  "this directory)");
  app->add_option("--data", flags->data, "the data directory of `trellis up`")
      ->capture_default_str();
  app->add_flag("--json", flags->json, "print the master's JSON reply");
  auto action = std::make_shared<std::string>();
  auto add = [&](const std::string& name, const std::string& help) {
    CLI::App* sub = app->add_subcommand(name, help);
    sub->callback([action, name] { *action = name; });
    return sub;
  };
  add("status",
      "groups and nodes: address, group, role, epoch, mode, sequence, lag, health, pid");
  add("add-group", "add a group")->add_option("NAME", flags->name, "group name")->required();
  add("remove-node", "remove a node from the map")
      ->add_option("ADDRESS", flags->name, "HOST:PORT of the node")
      ->required();
  add("failover", "switch a group's main to its most up-to-date backup")
      ->add_option("GROUP", flags->name, "group name")
      ->required();
  CLI::App* mode = add("set-mode", "set a group's write mode");
  mode->add_option("GROUP", flags->name, "group name")->required();
  mode->add_option("MODE", flags->mode, "async or sync")
      ->required()
      ->check(CLI::IsMember({"async", "sync"}));
  return {app, [app, flags, action] { return RunCluster(*app, *action, *flags); }};
}

}  // namespace trellis::cli
