// `trellis up`: starts the platform on one machine with the embedded defaults and prints
// its endpoints. Today the platform is the admin endpoint; each component that lands
// joins it here.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <memory>

#include <CLI/CLI.hpp>

#include "admin/admin_server.h"
#include "base/metrics.h"
#include "cli/command.h"
#include "cli/daemon_flags.h"
#include "net/address.h"
#include "net/signals.h"

namespace trellis::cli {

Command AddUpCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand(
      "up",
      "start the Trellis platform on this machine with the embedded defaults and print "
      "its endpoints; Ctrl-C stops it");
  auto flags = std::make_shared<DaemonFlags>();
  AddDaemonFlags(*app, *flags, "127.0.0.1:9180");
  return {
      app, [app, flags] {
        auto admin_endpoint = FinishDaemonFlags(*app, *flags);
        if (!admin_endpoint) {
          return UsageError(*app, admin_endpoint.error().message);
        }
        net::BlockTerminationSignals();
        base::Registry metrics;
        auto admin = admin::AdminServer::Start({*admin_endpoint, "up", {}}, metrics);
        if (!admin) {
          return UsageError(*app, admin.error().message);
        }
        spdlog::info("admin listening on {}", net::FormatEndpoint((*admin)->local_endpoint()));
        fmt::print("Trellis is up.\n  admin:   http://{}/v1/status\n  metrics: http://{}/metrics\n",
                   net::FormatEndpoint((*admin)->local_endpoint()),
                   net::FormatEndpoint((*admin)->local_endpoint()));
        std::fflush(stdout);
        const int signal_number = net::WaitForTerminationSignal();
        spdlog::info("signal {}: draining", signal_number);
        (*admin)->Stop(
            std::chrono::milliseconds(static_cast<int64_t>(flags->drain_timeout_seconds * 1000)));
        spdlog::info("stopped");
        return 0;
      }};
}

}  // namespace trellis::cli
