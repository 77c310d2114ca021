// `trellis cluster`: the operator's view of a CMEM cluster, through the master's API:
// status, add-group, remove-group, remove-node, failover, set-mode, rebalance, drain,
// migrations. A table on a terminal, JSON with --json. Without --master it asks the master that
// `trellis up` started from this directory (the URL in ./trellis-data/master.url).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "daemon/flags.h"
#include "http/client.h"
#include "master/client/master_client.h"

namespace trellis::cli {
namespace {

namespace asio = boost::asio;

struct ClusterFlags {
  std::string master;
  std::string data = "trellis-data";
  bool json = false;
  std::string name;  // add-group, failover, set-mode: the group; remove-node: the address.
  std::string mode;  // set-mode
  // rebalance, drain:
  std::optional<uint64_t> max_rate;
  bool dry_run = false;
  bool wait = false;
};

// How often --wait asks for progress.
constexpr std::chrono::seconds kProgressInterval{1};

base::Result<std::string> MasterUrl(const ClusterFlags& flags) {
  if (!flags.master.empty()) {
    return flags.master;
  }
  std::string url;
  std::ifstream file(flags.data + "/master.url");
  if (!std::getline(file, url)) {
    return base::InvalidArgument("no --master, and no " + flags.data +
                                 "/master.url (is `trellis up` running here?)");
  }
  return url;
}

void PrintStatus(const master::ClusterState& map) {
  fmt::print("cluster map version {}\n", map.version);
  fmt::print("{:<22} {:<10} {:>6} {:>9} {:<7} {:>6} {:<6} {:>12} {:>10} {:>6} {:<6} {}\n",
             "ADDRESS", "GROUP", "SLOTS", "ITEMS", "ROLE", "EPOCH", "MODE", "SEQUENCE", "LAG",
             "LAG S", "HEALTH", "PID");
  for (const master::GroupState& group : map.groups) {
    const uint32_t slots = map.SlotCount(group.name);
    if (group.nodes.empty()) {
      fmt::print("{:<22} {:<10} {:>6} (no nodes)\n", "-", group.name, slots);
    }
    for (const master::NodeState& node : group.nodes) {
      // Seconds behind the main (its last heartbeat's age); "-" before the first one.
      fmt::print("{:<22} {:<10} {:>6} {:>9} {:<7} {:>6} {:<6} {:>12} {:>10} {:>6} {:<6} {}\n",
                 node.address, group.name, slots, node.items, master::RoleName(node.role),
                 group.epoch, master::WriteModeName(group.mode), node.sequence, node.lag,
                 node.lag_ms ? fmt::format("{:.1f}", *node.lag_ms / 1000.0) : "-",
                 node.healthy ? "up" : "DOWN", node.pid != 0 ? std::to_string(node.pid) : "-");
    }
  }
  if (map.move_rate != 0) {
    fmt::print("slots are moving (trellis cluster migrations)\n");
  }
}

void PrintPlan(const master::RebalanceReply& plan) {
  if (plan.transfers.empty()) {
    fmt::print("nothing to move\n");
    return;
  }
  for (const master::PlannedTransfer& transfer : plan.transfers) {
    fmt::print("{:<10} -> {:<10} {:>6} slots {:>10} items {:>14} bytes\n", transfer.from,
               transfer.to, transfer.slots, transfer.items, transfer.bytes);
  }
  fmt::print("{:<24} {:>6} slots {:>10} items {:>14} bytes{}\n", "total", plan.slots, plan.items,
             plan.bytes, plan.started ? "" : " (not started)");
}

void PrintMigrations(const master::MigrationStatus& status) {
  fmt::print("{}: {}/{} slots ({} moving), {}/{} keys, {}/{} bytes, {:.0f} keys/s{}{}\n",
             status.active ? "moving" : "done", status.slots_done, status.slots_total,
             status.slots_moving, status.keys_moved, status.keys_total, status.bytes_moved,
             status.bytes_total, status.keys_per_second,
             status.eta_seconds ? fmt::format(", {:.0f} s left", *status.eta_seconds) : "",
             status.error ? ", failed: " + *status.error : "");
  if (!status.draining.empty()) {
    fmt::print("drained groups: {}\n", fmt::join(status.draining, " "));
  }
}

// Prints progress until the moves are done; an error if one failed.
asio::awaitable<base::Result<master::MigrationStatus>> WaitForMoves(master::MasterClient& client) {
  asio::steady_timer pause(co_await asio::this_coro::executor);
  for (;;) {
    TRELLIS_CO_TRY(auto status, co_await client.GetMigrations());
    if (isatty(STDOUT_FILENO) || !status.active) {
      PrintMigrations(status);
    }
    if (status.error) {
      co_return base::Error{"the moves failed: " + *status.error};
    }
    if (!status.active) {
      co_return status;
    }
    pause.expires_after(kProgressInterval);
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

// Runs `action` against the master; what to print is the reply as JSON.
asio::awaitable<base::Result<nlohmann::json>> Act(master::MasterClient& client,
                                                  const std::string& action,
                                                  const ClusterFlags& flags) {
  using Answer = base::Result<nlohmann::json>;
  auto done = [](base::Status status) -> Answer {
    if (!status) {
      return status.error();
    }
    return nlohmann::json{{"ok", true}};
  };
  if (action == "status") {
    TRELLIS_CO_TRY(auto map, co_await client.GetCluster());
    co_return master::ToJson(map);
  }
  if (action == "add-group") {
    const master::NewGroup group{flags.name};
    co_return done(co_await client.AddGroup(group));
  }
  if (action == "remove-node") {
    co_return done(co_await client.RemoveNode(flags.name));
  }
  if (action == "failover") {
    // Only the main seen now is replaced: a failover that the master or another operator
    // made meanwhile is not followed by a second one.
    TRELLIS_CO_TRY(auto map, co_await client.GetCluster());
    const master::GroupState* group = map.FindGroup(flags.name);
    if (group == nullptr) {
      co_return base::NotFound("no group " + flags.name);
    }
    const master::FailoverRequest request{group->epoch};
    TRELLIS_CO_TRY(auto reply, co_await client.Failover(flags.name, request));
    co_return master::ToJson(reply);
  }
  if (action == "rebalance" || action == "drain") {
    const master::RebalanceRequest request{flags.max_rate, flags.dry_run};
    // Not one co_await in each branch of ?:, which g++ 12 miscompiles.
    base::Result<master::RebalanceReply> planned = base::Error{""};
    if (action == "rebalance") {
      planned = co_await client.Rebalance(request);
    } else {
      planned = co_await client.Drain(flags.name, request);
    }
    TRELLIS_CO_TRY(auto plan, std::move(planned));
    if (!flags.json) {
      PrintPlan(plan);
    }
    if (flags.wait && plan.started) {
      TRELLIS_CO_TRY(auto status, co_await WaitForMoves(client));
      co_return master::ToJson(status);
    }
    co_return master::ToJson(plan);
  }
  if (action == "remove-group") {
    co_return done(co_await client.RemoveGroup(flags.name));
  }
  if (action == "migrations") {
    TRELLIS_CO_TRY(auto status, co_await client.GetMigrations());
    co_return master::ToJson(status);
  }
  if (action == "set-mode") {
    TRELLIS_CO_TRY(auto mode, master::ParseWriteMode(flags.mode));
    const master::ModeChange change{mode};
    co_return done(co_await client.SetMode(flags.name, change));
  }
  co_return base::InvalidArgument("unknown action " + action);
}

int RunCluster(CLI::App& app, const std::string& action, const ClusterFlags& flags) {
  auto url = MasterUrl(flags);
  if (!url) {
    return daemon::Fail(app, url.error());
  }
  using Answer = base::Result<nlohmann::json>;
  Answer reply =
      http::RunBlocking<Answer>([&](asio::any_io_executor executor) -> asio::awaitable<Answer> {
        TRELLIS_CO_TRY(auto client, master::MasterClient::ForUrl(executor, *url));
        co_return co_await Act(client, action, flags);
      });
  if (!reply) {
    return daemon::Fail(app, reply.error());
  }
  if (flags.json) {
    fmt::print("{}\n", reply->dump());
  } else if (action == "status") {
    PrintStatus(*master::ParseClusterState(*reply));
  } else if (action == "migrations") {
    PrintMigrations(*master::ParseMigrationStatus(*reply));
  } else if (action != "rebalance" && action != "drain") {  // Those printed as they went.
    fmt::print("ok: {}\n", reply->dump());
  }
  return 0;
}

}  // namespace

Command AddClusterCommand(CLI::App& parent) {
  CLI::App* app =
      parent.add_subcommand("cluster", "look at and change a CMEM cluster through its master");
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
      "groups and nodes: address, group, slots, items, role, epoch, mode, sequence, lag, health, "
      "pid");
  add("add-group",
      "add a group (it serves no slot until slots move to it, unless no node has joined yet)")
      ->add_option("NAME", flags->name, "group name")
      ->required();
  add("remove-node", "remove a node from the map")
      ->add_option("ADDRESS", flags->name, "HOST:PORT of the node")
      ->required();
  add("failover",
      "switch a group's main to its most up-to-date backup (refused if the main changed "
      "meanwhile)")
      ->add_option("GROUP", flags->name, "group name")
      ->required();
  add("remove-group", "remove a group that serves no slot (drain it first), with its nodes")
      ->add_option("GROUP", flags->name, "group name")
      ->required();
  auto moves = [&flags](CLI::App* sub) {
    sub->add_option("--max-rate", flags->max_rate,
                    "keys per second over the whole cluster (default: 50000)");
    sub->add_flag("--dry-run", flags->dry_run, "print the plan, move nothing");
    sub->add_flag("--wait", flags->wait,
                  "print progress until the moves are done; exit non-zero if they fail");
    return sub;
  };
  moves(add("rebalance",
            "move slots so that the groups hold about the same (items, bytes and slots), "
            "with as few moves as it takes; clients see no loss"));
  moves(add("drain", "move every slot off a group (then remove-group can remove it)"))
      ->add_option("GROUP", flags->name, "group name")
      ->required();
  add("migrations",
      "progress of the last rebalance or drain: slots, keys and bytes moved, rate, time left");
  CLI::App* mode = add("set-mode", "set a group's write mode");
  mode->add_option("GROUP", flags->name, "group name")->required();
  mode->add_option("MODE", flags->mode, "async or sync")
      ->required()
      ->check(CLI::IsMember({"async", "sync"}));
  return {app, [app, flags, action] { return RunCluster(*app, *action, *flags); }};
}

}  // namespace trellis::cli
