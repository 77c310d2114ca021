#include "db/replica_set.h"

#include <spdlog/spdlog.h>

#include "net/address.h"

namespace trellis::db {

ReplicaSet::ReplicaSet(boost::asio::any_io_executor executor, BackendPoolOptions options,
                       uint64_t max_lag_seconds, base::Gauge& open, base::Counter& waits)
    : executor_(std::move(executor)),
      options_(std::move(options)),
      max_lag_seconds_(max_lag_seconds),
      open_(open),
      waits_(waits) {}

void ReplicaSet::Update(const std::vector<DbReplica>& replicas) {
  for (auto& [address, replica] : replicas_) {
    replica.fit = false;
  }
  for (const DbReplica& listed : replicas) {
    auto [at, added] = replicas_.try_emplace(listed.address);
    Replica& replica = at->second;
    if (added) {
      auto server = [&]() -> base::Result<boost::asio::ip::tcp::endpoint> {
        TRELLIS_TRY(const net::HostPort host_port, net::ParseHostPort(listed.address));
        return net::Resolve(host_port);
      }();
      if (!server) {
        spdlog::error("replica {}: {}", listed.address, server.error().message);
        replicas_.erase(at);
        continue;
      }
      BackendPoolOptions options = options_;
      options.server = *server;
      replica.pool = std::make_unique<BackendPool>(executor_, options, open_, waits_);
    }
    replica.applied =
        proto::mysql::ParseGtidPosition(listed.position).value_or(proto::mysql::GtidPosition{});
    replica.fit = listed.lag_seconds && *listed.lag_seconds <= max_lag_seconds_;
  }
  for (auto& [address, replica] : replicas_) {
    if (!replica.fit) {
      replica.pool->CloseIdle();
    }
  }
}

std::optional<ReplicaSet::Choice> ReplicaSet::Choose(const proto::mysql::GtidPosition& after) {
  std::vector<BackendPool*> caught_up;
  std::vector<BackendPool*> behind;
  for (auto& [address, replica] : replicas_) {
    if (replica.fit) {
      (replica.applied.Covers(after) ? caught_up : behind).push_back(replica.pool.get());
    }
  }
  const bool any_caught_up = !caught_up.empty();
  const std::vector<BackendPool*>& among = any_caught_up ? caught_up : behind;
  if (among.empty()) {
    return std::nullopt;
  }
  return Choice{among[turn_++ % among.size()], any_caught_up};
}

}  // namespace trellis::db
