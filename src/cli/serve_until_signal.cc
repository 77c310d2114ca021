#include "cli/serve_until_signal.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <map>

#include "admin/admin_server.h"
#include "base/metrics.h"
#include "cli/privileges.h"
#include "net/address.h"
#include "net/signals.h"

namespace trellis::cli {

int ServeUntilSignal(CLI::App& app, const DaemonFlags& flags, base::Registry& metrics,
                     const boost::asio::ip::tcp::endpoint& admin_endpoint, const std::string& kind,
                     std::vector<RunningService> services, bool banner, const std::string& user,
                     std::function<void(nlohmann::json& status)> add_status,
                     admin::ApiHandler api) {
  std::map<std::string, std::string> listen;
  for (const RunningService& service : services) {
    listen[service.name] = net::FormatEndpoint(service.address);
  }
  auto admin =
      admin::AdminServer::Start({admin_endpoint, kind, listen, std::move(add_status), std::move(api)},
                                metrics);
  if (!admin) {
    return UsageError(app, admin.error().message);
  }
  if (!user.empty()) {
    if (base::Status dropped = DropPrivilegesTo(user); !dropped) {
      return UsageError(app, dropped.error().message);
    }
  }
  const std::string admin_at = net::FormatEndpoint((*admin)->local_endpoint());
  for (const RunningService& service : services) {
    spdlog::info("{} listening on {}", service.name, listen[service.name]);
  }
  spdlog::info("admin listening on {}", admin_at);
  if (banner) {
    fmt::print("Trellis is up.\n");
    for (const RunningService& service : services) {
      fmt::print("  {:<8} {} ({})\n", service.name + ":", listen[service.name], service.protocol);
    }
    fmt::print("  admin:   http://{}/v1/status\n  metrics: http://{}/metrics\n", admin_at, admin_at);
    std::fflush(stdout);
  }
  const int signal_number = net::WaitForTerminationSignal();
  spdlog::info("signal {}: draining", signal_number);
  const auto drain =
      std::chrono::milliseconds(static_cast<int64_t>(flags.drain_timeout_seconds * 1000));
  for (RunningService& service : services) {
    service.stop(drain);
  }
  (*admin)->Stop(drain);
  spdlog::info("stopped");
  return 0;
}

}  // namespace trellis::cli
