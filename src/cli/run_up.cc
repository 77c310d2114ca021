// `trellis up`: the CMEM cluster on one machine with the embedded defaults, as supervised
// child processes: two groups of a main and a backup (async replication), and two access
// nodes sharing the client port (SO_REUSEPORT), so that a client of 127.0.0.1:11211 sees
// one memcached. Ctrl-C stops everything; logs go to <data>/logs/.
#include <unistd.h>

#include <filesystem>
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
  std::vector<ChildSpec> children;
  std::vector<RunningService> services;
  std::vector<std::string> group_flags;
  for (int g = 1; g <= flags.groups; ++g) {
    const std::string group = "g" + std::to_string(g);
    std::string members;
    for (const std::string_view role : {"main", "backup"}) {
      auto node = reserve(tcp::endpoint(listen->address(), 0));
      if (!node) {
        return UsageError(app, node.error().message);
      }
      const std::string address = net::FormatEndpoint(*node);
      ChildSpec spec{group + "-" + std::string(role),
                     {"cache", "--listen", address, "--threads", "1", "--memory",
                      std::to_string(flags.memory_mb)}};
      if (role == "backup") {
        spec.args.push_back("--replica-of");
        spec.args.push_back(members);  // The main's address.
      }
      spec.args.insert(spec.args.end(), common.begin(), common.end());
      members += members.empty() ? address : "," + address;
      services.push_back(
          {spec.name, "cache node, group " + group + " " + std::string(role), *node, nullptr});
      children.push_back(std::move(spec));
    }
    group_flags.push_back(group + "=" + members);
  }
  for (int a = 1; a <= flags.access_nodes; ++a) {
    ChildSpec spec{"access-" + std::to_string(a),
                   {"access", "--listen", net::FormatEndpoint(*clients), "--threads", "2"}};
    for (const std::string& group : group_flags) {
      spec.args.push_back("--group");
      spec.args.push_back(group);
    }
    spec.args.insert(spec.args.end(), common.begin(), common.end());
    children.push_back(std::move(spec));
  }
  services.insert(services.begin(), {"access", "memcached protocol", *clients, nullptr});

  char self[4096];
  const ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (length <= 0) {
    return UsageError(app, "cannot find the trellis binary (/proc/self/exe)");
  }
  auto supervisor = std::make_shared<Supervisor>(std::string(self, length), log_dir);
  if (base::Status started = supervisor->Start(std::move(children)); !started) {
    return UsageError(app, started.error().message);
  }
  for (const RunningService& service : services) {
    if (!WaitForListener(service.address, std::chrono::seconds(10))) {
      supervisor->Stop(std::chrono::seconds(2));
      return UsageError(app, service.name + " did not start; see " + log_dir);
    }
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
  app->add_option("--groups", flags->groups, "cache groups, each a main and a backup")
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
