#include "cli/cache_daemon.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "admin/admin_server.h"
#include "base/metrics.h"
#include "cli/privileges.h"
#include "net/address.h"
#include "net/signals.h"

namespace trellis::cli {

int RunCacheDaemon(CLI::App& app, const DaemonFlags& flags,
                   const boost::asio::ip::tcp::endpoint& admin_endpoint,
                   const cache::CacheNodeOptions& options, const std::string& kind, bool banner,
                   const std::string& user) {
  net::BlockTerminationSignals();
  base::Registry metrics;
  auto node = cache::CacheNode::Start(options, metrics);
  if (!node) {
    return UsageError(app, node.error().message);
  }
  const std::string cache_at = net::FormatEndpoint((*node)->local_endpoint());
  auto admin = admin::AdminServer::Start({admin_endpoint, kind, {{"cache", cache_at}}}, metrics);
  if (!admin) {
    return UsageError(app, admin.error().message);
  }
  if (!user.empty()) {
    if (base::Status dropped = DropPrivilegesTo(user); !dropped) {
      return UsageError(app, dropped.error().message);
    }
  }
  const std::string admin_at = net::FormatEndpoint((*admin)->local_endpoint());
  spdlog::info("cache listening on {}", cache_at);
  spdlog::info("admin listening on {}", admin_at);
  if (banner) {
    fmt::print(
        "Trellis is up.\n  cache:   {} (memcached protocol)\n  admin:   http://{}/v1/status\n"
        "  metrics: http://{}/metrics\n",
        cache_at, admin_at, admin_at);
    std::fflush(stdout);
  }
  const int signal_number = net::WaitForTerminationSignal();
  spdlog::info("signal {}: draining", signal_number);
  const auto drain =
      std::chrono::milliseconds(static_cast<int64_t>(flags.drain_timeout_seconds * 1000));
  (*node)->Stop(drain);
  (*admin)->Stop(drain);
  spdlog::info("stopped");
  return 0;
}

}  // namespace trellis::cli
