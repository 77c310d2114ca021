// `trellis gateway`: the L4/L7 gateway (docs/gateway.md): listeners and pools from a TOML
// file; `trellis gateway status`: what a running one serves.
#include <fmt/core.h>

#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "base/file.h"
#include "cli/command.h"
#include "daemon/daemon.h"
#include "gateway/gateway.h"
#include "gateway/gateway_api.h"
#include "http/client.h"
#include "master/client/master_authenticator.h"

namespace trellis::cli {
namespace {

namespace asio = boost::asio;

struct GatewayFlags {
  daemon::DaemonFlags daemon;
  int threads = 1;
  std::chrono::milliseconds connect_timeout{2000};
  std::string master;
  net::TlsClientFiles cluster_tls;
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
  options.config_path = flags.daemon.config;
  options.threads = static_cast<size_t>(flags.threads);
  options.connect_timeout = flags.connect_timeout;
  TRELLIS_TRY(auto gateway, gateway::Gateway::Start(options, daemon.metrics()));
  daemon.set_api(gateway->Api(), {});
  if (!flags.master.empty()) {
    TRELLIS_TRY(master::MasterAccess master,
                daemon::MasterAccessOf(flags.master, "", flags.cluster_tls));
    daemon.set_authenticator(std::make_shared<master::MasterAuthenticator>(std::move(master)));
  }
  daemon.Add(std::move(gateway));
  return {};
}

struct StatusFlags {
  std::string admin;
  std::string token_file;
  bool json = false;
};

// `trellis gateway status`: the running gateway's listeners, pools and servers.
base::Status PrintStatus(const StatusFlags& flags) {
  using Answer = base::Result<nlohmann::json>;
  Answer reply =
      http::RunBlocking<Answer>([&](asio::any_io_executor executor) -> asio::awaitable<Answer> {
        TRELLIS_CO_TRY(auto client, http::Client::ForUrl(executor, flags.admin));
        TRELLIS_CO_TRY(std::string token, daemon::ReadTokenFile(flags.token_file));
        client.set_token(std::move(token));
        const nlohmann::json no_body;
        co_return co_await http::CallJson(client, http::beast_http::verb::get, "/v1/status",
                                          no_body, std::chrono::seconds(10));
      });
  if (!reply) {
    return reply.error();
  }
  if (!reply->contains("gateway")) {
    return base::InvalidArgument("--admin " + flags.admin + ": not a gateway's admin endpoint");
  }
  auto status = gateway::ParseGatewayStatus(reply->at("gateway"));
  if (!status) {
    return status.error();
  }
  if (flags.json) {
    fmt::print("{}\n", gateway::ToJson(*status).dump());
    return {};
  }
  fmt::print("{:<16} {:<5} {:<22} {}\n", "LISTENER", "KIND", "ADDRESS", "CONNECTIONS");
  for (const gateway::ListenerStatus& listener : status->listeners) {
    fmt::print("{:<16} {:<5} {:<22} {}\n", listener.name, listener.kind, listener.address,
               listener.connections);
  }
  for (const gateway::PoolStatus& pool : status->pools) {
    fmt::print("\npool {} ({})\n  {:<22} {:>6} {:<9} {:>6} {:>8} {:>8} {:>9}\n", pool.name,
               pool.balance, "SERVER", "WEIGHT", "STATE", "ACTIVE", "TOTAL", "FAILURES", "CHECK");
    for (const gateway::ServerStatusView& server : pool.servers) {
      fmt::print(
          "  {:<22} {:>6} {:<9} {:>6} {:>8} {:>8} {:>9}\n", server.address, server.weight,
          server.draining ? "draining"
          : server.up     ? "up"
                          : "down",
          server.active_connections, server.total_connections, server.failures,
          server.check_seconds > 0 ? fmt::format("{:.1f}ms", server.check_seconds * 1e3) : "-");
    }
  }
  return {};
}

}  // namespace

Command AddGatewayCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand(
      "gateway",
      "run the gateway: tcp listeners relay bytes to a pool, http listeners route requests "
      "by Host and path to pools of servers, tls listeners route by SNI or terminate TLS "
      "and route as http; health checks; routes, pools and servers change at run time "
      "(the admin endpoint's /v1/pools, /v1/listeners/L/routes) and on SIGHUP "
      "(docs/gateway.md)");
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
  app->add_option("--master", flags->master,
                  "http://HOST:PORT of a master (or of each, comma-separated): calls to the "
                  "runtime API (and /v1/status) "
                  "need a token it issued, once it requires tokens (docs/security.md)");
  daemon::AddClusterTlsFlags(*app, flags->cluster_tls);
  CLI::App* status = app->add_subcommand(
      "status", "print a running gateway's listeners, pools and servers (health, weight, counts)");
  auto status_flags = std::make_shared<StatusFlags>();
  status->add_option("--admin", status_flags->admin, "HOST:PORT of the gateway's admin endpoint")
      ->required();
  daemon::AddTokenFileFlag(*status, status_flags->token_file);
  status->add_flag("--json", status_flags->json, "print the status as JSON");
  return {app, [app, flags, status, status_flags] {
            if (status->parsed()) {
              const base::Status printed = PrintStatus(*status_flags);
              return printed ? 0 : daemon::Fail(*status, printed.error());
            }
            return daemon::RunDaemon(
                *app, flags->daemon,
                {"gateway", false, [&flags](daemon::Daemon& d) { return RunGateway(d, *flags); }});
          }};
}

}  // namespace trellis::cli
