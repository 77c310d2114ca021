#include "cli/daemon_flags.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include "base/config.h"
#include "base/logging.h"
#include "net/address.h"

namespace trellis::cli {

void AddDaemonFlags(CLI::App& app, DaemonFlags& flags, std::string default_admin) {
  flags.admin = std::move(default_admin);
  app.add_option("--config", flags.config,
                 "TOML file of flag values, one top-level key per long flag name "
                 "(threads = 4); flags on the command line win")
      ->configurable(false)
      ->check(CLI::ExistingFile);
  app.add_option("--admin", flags.admin,
                 "HOST:PORT of the admin HTTP endpoint (/healthz, /metrics, /v1/status); "
                 "port 0 picks a free port")
      ->capture_default_str();
  app.add_option("--log-level", flags.log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
  app.add_option("--drain-timeout", flags.drain_timeout_seconds,
                 "seconds that in-flight requests get to finish after SIGTERM or SIGINT")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
}

base::Result<boost::asio::ip::tcp::endpoint> FinishDaemonFlags(CLI::App& app,
                                                               const DaemonFlags& flags) {
  if (!flags.config.empty()) {
    auto entries = base::LoadConfigFile(flags.config);
    if (!entries) {
      return entries.error();
    }
    if (base::Status applied = base::ApplyConfig(app, flags.config, *entries); !applied) {
      return applied.error();
    }
  }
  if (base::Status logging = base::InitLogging(flags.log_level); !logging) {
    return base::Error{"--log-level: " + logging.error().message};
  }
  return ResolveFlag("--admin", flags.admin);
}

base::Result<DaemonAddresses> FinishDaemonFlags(CLI::App& app, const DaemonFlags& flags,
                                                const std::string& listen) {
  auto admin = FinishDaemonFlags(app, flags);
  if (!admin) {
    return admin.error();
  }
  auto resolved = ResolveFlag("--listen", listen);
  if (!resolved) {
    return resolved.error();
  }
  return DaemonAddresses{*admin, *resolved};
}

base::Result<boost::asio::ip::tcp::endpoint> ResolveFlag(const std::string& flag,
                                                         const std::string& value) {
  auto address = net::ParseHostPort(value);
  if (!address) {
    return base::Error{flag + ": " + address.error().message};
  }
  auto endpoint = net::Resolve(*address);
  if (!endpoint) {
    return base::Error{flag + ": " + endpoint.error().message};
  }
  return endpoint;
}

int UsageError(const CLI::App& app, const std::string& message) {
  fmt::print(stderr, "trellis {}: {}\n", app.get_name(), message);
  return 2;
}

}  // namespace trellis::cli
