// `trellis cluster`: the operator's view of a CMEM cluster, through the master's API:
// status (with the platform services registered with the master), add-group,
// remove-group, remove-node, failover, set-mode, rebalance, drain, migrations. A table on
// a terminal, JSON with --json. Without --master it asks the master that `trellis up`
// started from this directory (the URL in ./trellis-data/master.url).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

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
  daemon::OperatorFlags master;
  bool json = false;
  std::string name;    // add-group, failover, set-mode: the group; remove-node: the address.
  std::string mode;    // set-mode
  bool spawn = false;  // add-group: `trellis up` starts its nodes.
  // rebalance, drain:
  std::optional<uint64_t> max_rate;
  bool dry_run = false;
  bool wait = false;
};

// How often --wait asks for progress.
constexpr std::chrono::seconds kProgressInterval{1};
// Starting a group's nodes takes up to 10 s each.
constexpr std::chrono::seconds kSpawnTimeout{30};

// Asks `trellis up` to add a group and start its nodes (up/group_spawner.h).
asio::awaitable<base::Status> SpawnGroup(const ClusterFlags& flags) {
  TRELLIS_CO_TRY(const std::string url, daemon::UrlOfUp(flags.master.data, "up.url"));
  auto up = http::Client::ForUrl(co_await asio::this_coro::executor, url);
  if (!up) {
    co_return base::InvalidArgument("bad URL in " + flags.master.data + "/up.url: " + url);
  }
  TRELLIS_CO_TRY(std::string token,
                 daemon::OperatorToken(flags.master.token_file, flags.master.data));
  up->set_token(std::move(token));
  const master::NewGroup group{flags.name};
  auto reply = co_await http::CallJson(*up, http::beast_http::verb::post, "/v1/groups",
                                       master::ToJson(group), kSpawnTimeout);
  if (!reply) {
    co_return reply.error();
  }
  co_return base::Status();
}

// What a group holds: its main's items as the main's last probe said; "-" without a main.
std::string GroupItems(const master::GroupState& group) {
  const master::NodeState* main = group.main ? group.FindNode(*group.main) : nullptr;
  return main != nullptr ? std::to_string(main->items) : "-";
}

void PrintStatus(const master::ClusterState& map) {
  fmt::print("cluster map version {}\n", map.version);
  fmt::print("{:<22} {:<10} {:>6} {:>10} {:<7} {:>6} {:<6} {:>12} {:>10} {:>6} {:<6} {}\n",
             "ADDRESS", "GROUP", "SLOTS", "ITEMS", "ROLE", "EPOCH", "MODE", "SEQUENCE", "LAG",
             "LAG S", "HEALTH", "PID");
  for (const master::GroupState& group : map.groups) {
    // SLOTS and ITEMS are the group's, on each of its rows.
    const uint32_t slots = map.SlotCount(group.name);
    const std::string items = GroupItems(group);
    if (group.nodes.empty()) {
      fmt::print("{:<22} {:<10} {:>6} {:>10} (no nodes)\n", "-", group.name, slots, items);
    }
    for (const master::NodeState& node : group.nodes) {
      // Seconds behind the main (its last heartbeat's age); "-" before the first one.
      fmt::print("{:<22} {:<10} {:>6} {:>10} {:<7} {:>6} {:<6} {:>12} {:>10} {:>6} {:<6} {}\n",
                 node.address, group.name, slots, items, master::RoleName(node.role), group.epoch,
                 master::WriteModeName(group.mode), node.sequence, node.lag,
                 node.lag_ms ? fmt::format("{:.1f}", *node.lag_ms / 1000.0) : "-",
                 node.healthy ? "up" : "DOWN", node.pid != 0 ? std::to_string(node.pid) : "-");
    }
  }
  if (map.move_rate != 0) {
    fmt::print("slots are moving (trellis cluster migrations)\n");
  }
}

// The platform services registered with the master, after the groups.
void PrintServices(const master::ServiceList& list) {
  if (list.services.empty()) {
    fmt::print("\nno services registered\n");
    return;
  }
  fmt::print("\n{:<22} {:<16} {:<28} {:>6} {}\n", "SERVICE", "KIND", "URL", "AGE S", "SUMMARY");
  for (const master::ServiceStatus& service : list.services) {
    const master::ServiceRegistration& registration = service.registration;
    fmt::print("{:<22} {:<16} {:<28} {:>6.1f} {}\n", registration.name, registration.kind,
               registration.url, service.age_seconds,
               registration.summary.empty() ? "-" : registration.summary);
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

// One line: how far the moves are.
std::string Progress(const master::MigrationStatus& status) {
  const std::string_view state = status.error ? "failed" : status.active ? "moving" : "done";
  std::string line = fmt::format("{}: {}/{} slots", state, status.slots_done, status.slots_total);
  if (status.active) {
    line += fmt::format(" ({} moving)", status.slots_moving);
  }
  line += fmt::format(", {}/{} keys, {}/{} bytes, {:.0f} keys/s (at most {})", status.keys_moved,
                      status.keys_total, status.bytes_moved, status.bytes_total,
                      status.keys_per_second, status.max_rate);
  if (status.active) {
    line += status.eta_seconds ? fmt::format(", {:.0f} s left", *status.eta_seconds)
                               : ", time left unknown";
  }
  return line;
}

void PrintMigrations(const master::MigrationStatus& status) {
  if (!status.active && !status.error && status.slots_total == 0 && status.draining.empty()) {
    fmt::print("no moves: nothing has been rebalanced or drained\n");
    return;
  }
  fmt::print("{}\n", Progress(status));
  if (!status.draining.empty()) {
    const std::string_view drained = status.error    ? "draining (stopped)"
                                     : status.active ? "draining"
                                                     : "drained";
    fmt::print("{}: {}\n", drained, fmt::join(status.draining, " "));
  }
  if (status.error) {
    fmt::print("error: {}\n", *status.error);
  }
}

// Prints a progress line (unless `quiet`) every kProgressInterval until the moves are
// done, then the whole status; an error if they failed.
asio::awaitable<base::Result<master::MigrationStatus>> WaitForMoves(master::MasterClient& client,
                                                                    bool quiet) {
  asio::steady_timer pause(co_await asio::this_coro::executor);
  for (;;) {
    TRELLIS_CO_TRY(auto status, co_await client.GetMigrations());
    if (!quiet && status.active) {
      fmt::print("{}\n", Progress(status));
    } else if (!quiet) {
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
    TRELLIS_CO_TRY(auto services, co_await client.ListServices());
    // The map, with the services beside its groups as GET /v1/services names them.
    nlohmann::json status = master::ToJson(map);
    status["services"] = master::ToJson(master::ServiceList{std::move(services)})["services"];
    co_return status;
  }
  if (action == "add-group" && flags.spawn) {
    co_return done(co_await SpawnGroup(flags));
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
      TRELLIS_CO_TRY(auto status, co_await WaitForMoves(client, flags.json));
      co_return nlohmann::json{{"plan", master::ToJson(plan)},
                               {"migrations", master::ToJson(status)}};
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
  const base::Result<master::MasterAccess> access = daemon::OperatorMaster(flags.master);
  if (!access) {
    return daemon::Fail(app, access.error());
  }
  using Answer = base::Result<nlohmann::json>;
  Answer reply = master::CallMaster<Answer>(
      *access, [&](master::MasterClient& client) { return Act(client, action, flags); });
  if (!reply) {
    return daemon::Fail(app, reply.error());
  }
  if (flags.json) {
    fmt::print("{}\n", reply->dump());
  } else if (action == "status") {
    PrintStatus(*master::ParseClusterState(*reply));
    PrintServices(*master::ParseServiceList(*reply));
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
  daemon::AddOperatorFlags(*app, flags->master);
  app->add_flag("--json", flags->json, "print the master's JSON reply");
  auto action = std::make_shared<std::string>();
  auto add = [&](const std::string& name, const std::string& help) {
    CLI::App* sub = app->add_subcommand(name, help);
    sub->callback([action, name] { *action = name; });
    return sub;
  };
  add("status",
      "groups and nodes: address, group, the group's slots and items (its main's), role, epoch, "
      "mode, sequence, lag, health, pid; then the services registered with the master (the "
      "backup center, ...): name, kind, URL, seconds since it last renewed, its summary "
      "(--json: the map with a \"services\" array)");
  CLI::App* add_group =
      add("add-group",
          "add a group (it serves no slot until slots move to it, unless no node has joined yet)");
  add_group->add_option("NAME", flags->name, "group name")->required();
  add_group->add_flag("--spawn", flags->spawn,
                      "have `trellis up` (running with --data) start a main and a backup for it");
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
                    "keys per second over the whole cluster, shared by the groups whose slots "
                    "move (default: 20000)")
        ->check(CLI::Range(uint64_t{1}, std::numeric_limits<uint64_t>::max()));
    sub->add_flag("--dry-run", flags->dry_run, "print the plan, move nothing");
    sub->add_flag("--wait", flags->wait,
                  "print progress every second until the moves are done; exit non-zero if they "
                  "fail");
    return sub;
  };
  moves(add("rebalance",
            "move slots so that the groups hold about the same (items, bytes, then slots), "
            "with as few moves as it takes, while clients keep reading and writing; prints the "
            "plan: from -> to, slots, items, bytes"));
  moves(add("drain",
            "move every slot off a group, while clients keep reading and writing (then "
            "remove-group removes it); prints the plan"))
      ->add_option("GROUP", flags->name, "group name")
      ->required();
  add("migrations",
      "the last rebalance or drain: running or not, slots done, keys and bytes moved, rate, time "
      "left, drained groups, why it failed (--json: the master's JSON)");
  CLI::App* mode = add("set-mode", "set a group's write mode");
  mode->add_option("GROUP", flags->name, "group name")->required();
  mode->add_option("MODE", flags->mode, "async or sync")
      ->required()
      ->check(CLI::IsMember({"async", "sync"}));
  return {app, [app, flags, action] { return RunCluster(*app, *action, *flags); }};
}

}  // namespace trellis::cli
