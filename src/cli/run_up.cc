// `trellis up`: starts the platform on one machine with the embedded defaults and prints
// its endpoints. Today the platform is one cache node and the admin endpoint; each
// component that lands joins it here.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <memory>

#include <CLI/CLI.hpp>

#include "admin/admin_server.h"
#include "base/metrics.h"
#include "cache/cache_node.h"
#include "cli/command.h"
#include "cli/daemon_flags.h"
#include "net/address.h"
#include "net/signals.h"

namespace trellis::cli {

namespace {

int RunUp(CLI::App& app, const DaemonFlags& flags, const std::string& cache_listen) {
  auto admin_endpoint = FinishDaemonFlags(app, flags);
  if (!admin_endpoint) {
    return UsageError(app, admin_endpoint.error().message);
  }
  auto cache_address = net::ParseHostPort(cache_listen);
  if (!cache_address) {
    return UsageError(app, "--cache: " + cache_address.error().message);
  }
  auto cache_endpoint = net::Resolve(*cache_address);
  if (!cache_endpoint) {
    return UsageError(app, "--cache: " + cache_endpoint.error().message);
  }
  net::BlockTerminationSignals();
  base::Registry metrics;
  cache::CacheNodeOptions cache_options;
  cache_options.listen = *cache_endpoint;
  auto cache = cache::CacheNode::Start(cache_options, metrics);
  if (!cache) {
    return UsageError(app, "--cache: " + cache.error().message);
  }
  const std::string cache_at = net::FormatEndpoint((*cache)->local_endpoint());
  auto admin = admin::AdminServer::Start({*admin_endpoint, "up", {{"cache", cache_at}}}, metrics);
  if (!admin) {
    return UsageError(app, admin.error().message);
  }
  const std::string admin_at = net::FormatEndpoint((*admin)->local_endpoint());
  spdlog::info("cache listening on {}", cache_at);
  spdlog::info("admin listening on {}", admin_at);
  fmt::print(
      "Trellis is up.\n  cache:   {} (memcached protocol)\n  admin:   http://{}/v1/status\n"
      "  metrics: http://{}/metrics\n",
      cache_at, admin_at, admin_at);
  std::fflush(stdout);
  const int signal_number = net::WaitForTerminationSignal();
  spdlog::info("signal {}: draining", signal_number);
  const auto drain =
      std::chrono::milliseconds(static_cast<int64_t>(flags.drain_timeout_seconds * 1000));
  (*cache)->Stop(drain);
  (*admin)->Stop(drain);
  spdlog::info("stopped");
  return 0;
}

}  // namespace

Command AddUpCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand(
      "up",
      "start the Trellis platform on this machine with the embedded defaults and print "
      "its endpoints; Ctrl-C stops it");
  auto flags = std::make_shared<DaemonFlags>();
  auto cache_listen = std::make_shared<std::string>("127.0.0.1:11211");
  AddDaemonFlags(*app, *flags, "127.0.0.1:9180");
  app->add_option("--cache", *cache_listen, "HOST:PORT of the cache (memcached protocol)")
      ->capture_default_str();
  return {app, [app, flags, cache_listen] { return RunUp(*app, *flags, *cache_listen); }};
}

}  // namespace trellis::cli
