// `trellis gateway`: the L4/L7 gateway (docs/gateway.md): listeners and pools from a TOML
// file.
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "base/file.h"
#include "cli/command.h"
#include "daemon/daemon.h"
#include "gateway/gateway.h"

namespace trellis::cli {
namespace {

struct GatewayFlags {
  daemon::DaemonFlags daemon;
  int threads = 1;
  std::chrono::milliseconds connect_timeout{2000};
};

base::Status RunGateway(daemon::Daemon& daemon, const GatewayFlags& flags) {
  gateway::GatewayOptions options;
  if (flags.daemon.config.empty()) {
    return base::InvalidArgument("--config: the file of listeners and pools is needed");
  }
  TRELLIS_TRY(const std::string text, base::ReadFile(flags.daemon.config));
  auto config = gateway::ParseGatewayConfig(text);
  if (!config) {
    return base::WithContext("--config " + flags.daemon.config, config.error());
  }
  options.config = std::move(config).value();
  options.threads = static_cast<size_t>(flags.threads);
  options.connect_timeout = flags.connect_timeout;
  TRELLIS_TRY(auto gateway, gateway::Gateway::Start(options, daemon.metrics()));
  daemon.Add(std::move(gateway));
  return {};
}

}  // namespace

Command AddGatewayCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand(
      "gateway",
      "run the gateway: tcp listeners relay bytes to a pool, http listeners route requests "
      "by Host and path to pools of servers, with health checks (docs/gateway.md)");
  auto flags = std::make_shared<GatewayFlags>();
  // --config (every daemon's) is the file of listeners and pools ([[listener]], [[pool]]).
  daemon::AddDaemonFlags(*app, flags->daemon, "127.0.0.1:0");
  flags->daemon.config_sections = {"listener", "pool"};
  app->add_option("-t,--threads", flags->threads, "worker threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  daemon::AddDurationFlag(*app,
                          {"--connect-timeout",
                           "how long a server may take to accept a connection before the next "
                           "one is tried (and it is taken out of its pool)",
                           std::chrono::milliseconds(1), std::chrono::minutes(1)},
                          flags->connect_timeout);
  return {app, [app, flags] {
            return daemon::RunDaemon(
                *app, flags->daemon,
                {"gateway", false, [&flags](daemon::Daemon& d) { return RunGateway(d, *flags); }});
          }};
}

}  // namespace trellis::cli
