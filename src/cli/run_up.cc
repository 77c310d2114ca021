// `trellis up`: the CMEM cluster on one machine with the embedded defaults, as supervised
// child processes: a master (its map under <data>/master), two groups of two cache
// nodes that take their roles from it (a main and a backup, async replication), and two
// access nodes that route by its map and share the client port (SO_REUSEPORT), so that
// a client of 127.0.0.1:11211 sees one memcached. Ctrl-C stops everything; logs go to
// <data>/logs/, the master's URL to <data>/master.url (for `trellis cluster`).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/daemon_flags.h"
#include "cli/serve_until_signal.h"
#include "cli/supervisor.h"
#include "master/client/master_client.h"
#include "net/address.h"
#include "net/reserved_port.h"
#include "net/signals.h"

namespace trellis::cli {

namespace {

using boost::asio::ip::tcp;

struct UpFlags {
  DaemonFlags daemon;
  std::string listen = "127.0.0.1:11211";
  std::string data = "trellis-data";
  int groups = 2;
  int access_nodes = 2;
  size_t memory_mb = 64;
};

// True once something accepts connections at `endpoint`.
bool WaitForListener(const tcp::endpoint& endpoint, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  boost::asio::io_context io;
  while (std::chrono::steady_clock::now() < deadline) {
    tcp::socket socket(io);
    boost::system::error_code error;
    socket.connect(endpoint, error);
    if (!error) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

int RunUp(CLI::App& app, const UpFlags& flags) {
  auto addresses = FinishDaemonFlags(app, flags.daemon, flags.listen);
  if (!addresses) {
    return UsageError(app, addresses.error().message);
  }
  const boost::asio::ip::tcp::endpoint* admin_endpoint = &addresses->admin;
  const boost::asio::ip::tcp::endpoint* listen = &addresses->listen;
  const std::string log_dir = flags.data + "/logs";
  std::error_code made;
  std::filesystem::create_directories(log_dir, made);
  if (made) {
    return UsageError(app, "--data: " + log_dir + ": " + made.message());
  }
  net::BlockTerminationSignals();

  // Every address is held from here on, so that children restarted later get it back.
  std::vector<net::ReservedPort> held;
  auto reserve = [&held](const tcp::endpoint& endpoint) -> base::Result<tcp::endpoint> {
    auto port = net::ReservedPort::Reserve(endpoint);
    if (!port) {
      return port.error();
    }
    held.push_back(std::move(port).value());
    return held.back().endpoint();
  };
  auto clients = reserve(*listen);
  if (!clients) {
    return UsageError(app, "--listen: " + clients.error().message);
  }
  const std::vector<std::string> common = {"--admin", "127.0.0.1:0", "--log-level",
                                           flags.daemon.log_level};
  char self[4096];
  const ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (length <= 0) {
    return UsageError(app, "cannot find the trellis binary (/proc/self/exe)");
  }
  auto supervisor = std::make_shared<Supervisor>(std::string(self, length), log_dir);
  std::vector<RunningService> services;
  auto start = [&](std::vector<ChildSpec> children) -> base::Status {
    if (base::Status started = supervisor->Add(std::move(children)); !started) {
      return started;
    }
    for (const RunningService& service : services) {
      if (!WaitForListener(service.address, std::chrono::seconds(10))) {
        return base::Error{service.name + " did not start; see " + log_dir};
      }
    }
    return {};
  };
  auto fail = [&](const std::string& message) {
    supervisor->Stop(std::chrono::seconds(2));
    return UsageError(app, message);
  };

  // First the master, and the groups in its map.
  auto master_address = reserve(tcp::endpoint(listen->address(), 0));
  if (!master_address) {
    return UsageError(app, master_address.error().message);
  }
  const std::string master_url = "http://" + net::FormatEndpoint(*master_address);
  ChildSpec master{"master",
                   {"master", "--listen", net::FormatEndpoint(*master_address), "--data",
                    flags.data + "/master"}};
  master.args.insert(master.args.end(), common.begin(), common.end());
  services.push_back({"master", "HTTP/JSON API of the cluster map", *master_address, nullptr});
  if (base::Status started = start({master}); !started) {
    return fail(started.error().message);
  }
  std::ofstream(flags.data + "/master.url") << master_url << "\n";
  auto client = master::MasterClient::ForUrl(master_url);
  auto map = client->Call("GET", "/v1/cluster", "", std::chrono::seconds(5));
  if (!map) {
    return fail("master: " + map.error().message);
  }

  // Then two cache nodes per group (the master says which is the main) and the access
  // nodes. Nodes of an earlier run (other addresses) leave the map.
  std::vector<ChildSpec> children;
  std::set<std::string> node_addresses;
  for (int g = 1; g <= flags.groups; ++g) {
    const std::string group = "g" + std::to_string(g);
    (void)client->Call("POST", "/v1/groups", nlohmann::json{{"name", group}}.dump(),
                       std::chrono::seconds(5));  // Exists already on a second run.
    for (const char* member : {"a", "b"}) {
      auto node = reserve(tcp::endpoint(listen->address(), 0));
      if (!node) {
        return fail(node.error().message);
      }
      const std::string address = net::FormatEndpoint(*node);
      node_addresses.insert(address);
      ChildSpec spec{group + "-" + member,
                     {"cache", "--listen", address, "--threads", "1", "--memory",
                      std::to_string(flags.memory_mb), "--master", master_url, "--group", group}};
      spec.args.insert(spec.args.end(), common.begin(), common.end());
      services.push_back({spec.name, "cache node of group " + group, *node, nullptr});
      children.push_back(std::move(spec));
    }
  }
  for (const nlohmann::json& group : map->value("groups", nlohmann::json::array())) {
    for (const nlohmann::json& node : group.value("nodes", nlohmann::json::array())) {
      if (!node_addresses.contains(node.value("address", ""))) {
        (void)client->Call("DELETE", "/v1/nodes/" + node.value("address", ""), "",
                           std::chrono::seconds(5));
      }
    }
  }
  for (int a = 1; a <= flags.access_nodes; ++a) {
    ChildSpec spec{"access-" + std::to_string(a),
                   {"access", "--listen", net::FormatEndpoint(*clients), "--threads", "2",
                    "--master", master_url}};
    spec.args.insert(spec.args.end(), common.begin(), common.end());
    children.push_back(std::move(spec));
  }
  services.insert(services.begin(), {"access", "memcached protocol", *clients, nullptr});
  if (base::Status started = start(std::move(children)); !started) {
    return fail(started.error().message);
  }
  // The children stop together, once, with the drain time plus a margin.
  const auto drain =
      std::chrono::milliseconds(static_cast<int64_t>(flags.daemon.drain_timeout_seconds * 1000));
  for (RunningService& service : services) {
    service.stop = [supervisor, drain](std::chrono::milliseconds) {
      supervisor->Stop(drain + std::chrono::seconds(2));
    };
  }
  base::Registry metrics;
  return ServeUntilSignal(app, flags.daemon, metrics, *admin_endpoint, "up", std::move(services),
                          /*banner=*/true, "", [supervisor](nlohmann::json& status) {
                            nlohmann::json children = nlohmann::json::array();
                            for (const ChildStatus& child : supervisor->children()) {
                              children.push_back({{"name", child.name},
                                                  {"pid", child.pid},
                                                  {"restarts", child.restarts}});
                            }
                            status["children"] = children;
                          });
}

}  // namespace

Command AddUpCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand(
      "up",
      "start the Trellis platform on this machine with the embedded defaults (a CMEM "
      "cluster: groups of a main and a backup behind access nodes) and print its "
      "endpoints; Ctrl-C stops it");
  auto flags = std::make_shared<UpFlags>();
  AddDaemonFlags(*app, flags->daemon, "127.0.0.1:9180");
  app->add_option("--listen", flags->listen,
                  "HOST:PORT where memcached clients connect (the access nodes); the cache "
                  "nodes take free ports on the same host")
      ->capture_default_str();
  app->add_option("--data", flags->data, "directory for the children's logs (<data>/logs)")
      ->capture_default_str();
  app->add_option("--groups", flags->groups, "cache groups, each of two nodes (a main and a backup)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app->add_option("--access-nodes", flags->access_nodes, "access nodes sharing --listen")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  app->add_option("--memory", flags->memory_mb, "megabytes of item memory per cache node")
      ->check(CLI::Range(size_t{1}, size_t{65535}))
      ->capture_default_str();
  return {app, [app, flags] { return RunUp(*app, *flags); }};
}

}  // namespace trellis::cli
