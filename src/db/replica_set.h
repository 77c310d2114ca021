// ReplicaSet: one dbproxy shard's replicas for reads (docs/db.md, "Reads on replicas"): a
// pool of connections to each, and the manager's last word on how far each has applied
// and how far behind it is (topology.h). A client's plain read goes to a replica that
// has applied the client's own writes (client_session.h); a replica whose lag is unknown
// (its SQL thread stopped) or past the limit gets none.
//
// A replica the manager no longer lists gets no more reads, and its idle connections are
// closed; its pool stays, since a client may be reading from it at that moment.
//
// Thread safety: the shard's thread only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "base/metrics.h"
#include "db/backend_pool.h"
#include "db/topology.h"
#include "proto/mysql/gtid.h"

namespace trellis::db {

class ReplicaSet {
 public:
  // `options`: each replica's pool's (its server set per replica).
  ReplicaSet(boost::asio::any_io_executor executor, BackendPoolOptions options,
             uint64_t max_lag_seconds, base::Gauge& open, base::Counter& waits);

  void Update(const std::vector<DbReplica>& replicas);

  struct Choice {
    BackendPool* pool;
    bool caught_up;  // It has applied what was asked, by the manager's last probe.
  };
  // A replica fit for reads, in turn: one that has applied `after` first. nullopt when
  // none is fit.
  std::optional<Choice> Choose(const proto::mysql::GtidPosition& after);

 private:
  struct Replica {
    proto::mysql::GtidPosition applied;
    bool fit = false;  // Listed, its lag known and within the limit.
    std::unique_ptr<BackendPool> pool;
  };

  const boost::asio::any_io_executor executor_;
  const BackendPoolOptions options_;
  const uint64_t max_lag_seconds_;
  base::Gauge& open_;
  base::Counter& waits_;
  std::map<std::string, Replica> replicas_;  // By HOST:PORT.
  size_t turn_ = 0;                          // Spreads reads over equals.
};

}  // namespace trellis::db
