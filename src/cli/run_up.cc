// `trellis up`: starts the platform on one machine with the embedded defaults and prints
// its endpoints. Today the platform is one cache node and the admin endpoint; each
// component that lands joins it here.
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/cache_daemon.h"
#include "cli/command.h"
#include "cli/daemon_flags.h"

namespace trellis::cli {

namespace {

int RunUp(CLI::App& app, const DaemonFlags& flags, const std::string& cache_listen) {
  auto admin_endpoint = FinishDaemonFlags(app, flags);
  if (!admin_endpoint) {
    return UsageError(app, admin_endpoint.error().message);
  }
  auto cache_endpoint = ResolveFlag("--cache", cache_listen);
  if (!cache_endpoint) {
    return UsageError(app, cache_endpoint.error().message);
  }
  cache::CacheNodeOptions options;
  options.listen = *cache_endpoint;
  return RunCacheDaemon(app, flags, *admin_endpoint, options, "up", /*banner=*/true);
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
