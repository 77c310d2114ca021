#include "cli/cache_daemon.h"

#include <nlohmann/json.hpp>

#include "base/metrics.h"
#include "cli/master_following.h"
#include "cli/serve_until_signal.h"
#include "net/address.h"
#include "net/signals.h"

namespace trellis::cli {

int RunCacheDaemon(CLI::App& app, const DaemonFlags& flags,
                   const boost::asio::ip::tcp::endpoint& admin_endpoint,
                   const cache::CacheNodeOptions& options, const std::string& kind, bool banner,
                   const std::string& user,
                   const std::optional<MasterMembership>& membership) {
  net::BlockTerminationSignals();
  base::Registry metrics;
  auto node = cache::CacheNode::Start(options, metrics);
  if (!node) {
    return UsageError(app, node.error().message);
  }
  cache::CacheNode* cache = node->get();
  MasterFollower follower;
  if (membership) {
    follower.Run([&membership, cache](const std::atomic<bool>& stop) {
      FollowAsCacheNode(membership->master, membership->group,
                        membership->address.empty()
                            ? net::FormatEndpoint(cache->local_endpoint())
                            : membership->address,
                        *cache, stop);
    });
  }
  return ServeUntilSignal(
      app, flags, metrics, admin_endpoint, kind,
      {{"cache", "memcached protocol", cache->local_endpoint(),
        [cache](std::chrono::milliseconds drain) { cache->Stop(drain); }}},
      banner, user, [cache](nlohmann::json& status) {
        const cache::CacheNode::ReplicationStatus replication = cache->replication_status();
        status["replication"] = {{"read_only", replication.read_only},
                                 {"mode", replication.sync ? "sync" : "async"},
                                 {"sequence", replication.sequence},
                                 {"applied", replication.applied},
                                 {"lag_ms", replication.lag_ms >= 0 ? nlohmann::json(replication.lag_ms)
                                                                    : nlohmann::json()},
                                 {"backups", replication.backups},
                                 {"degraded_writes", replication.degraded_writes},
                                 {"degraded", replication.sync && replication.backups == 0}};
      });
}

}  // namespace trellis::cli
