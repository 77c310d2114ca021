// CacheNode: a running cache node: the Store, its memcached-protocol server on a
// ShardPool, and the expiry sweeper. `trellis cache` runs one; `trellis up` embeds one.
//
// Thread safety: Start/Stop from the composition root's thread.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <thread>

#include <boost/asio/ip/tcp.hpp>

#include "base/metrics.h"
#include "base/result.h"
#include "cache/executor.h"
#include "cache/replication.h"
#include "cache/replication_log.h"
#include "cache/store.h"
#include "net/server.h"
#include "net/shard_pool.h"

namespace trellis::cache {

struct CacheNodeOptions {
  boost::asio::ip::tcp::endpoint listen;
  int threads = 4;
  size_t memory_bytes = 64 << 20;
  size_t max_item_size = 1 << 20;
  bool evict = true;
  size_t max_connections = 1024;
  std::chrono::milliseconds idle_timeout{0};
  // Replication (docs/cache.md): a backup follows the main at `replica_of` and refuses
  // client writes; a main with `sync_replication` answers a write only when a backup
  // has it, or after `sync_timeout`.
  std::optional<boost::asio::ip::tcp::endpoint> replica_of;
  // Refuse writes until told a role (BecomeMain): a node that follows a master must not
  // take writes as a main it may no longer be.
  bool start_read_only = false;
  bool sync_replication = false;
  std::chrono::milliseconds sync_timeout{1000};
  size_t replication_log_bytes = 64 << 20;
};

class CacheNode {
 public:
  static base::Result<std::unique_ptr<CacheNode>> Start(const CacheNodeOptions& options,
                                                        base::Registry& metrics);
  ~CacheNode();

  const boost::asio::ip::tcp::endpoint& local_endpoint() const { return endpoint_; }
  Store& store() { return store_; }
  const ReplicaState& replica_state() const { return replica_state_; }

  // Role changes, from the master (any thread): a main takes writes; a backup follows
  // `main` and refuses client writes; sync mode makes writes wait for a backup.
  void BecomeMain();
  void BecomeBackupOf(const boost::asio::ip::tcp::endpoint& main);
  void SetSyncReplication(bool sync) { sync_replication_ = sync; }
  // A main that refuses writes for a moment: the master's switchover.
  void SetFrozen(bool frozen) { read_only_ = frozen || replica_state_.main().has_value(); }

  // Stops accepting, finishes in-flight requests (up to `timeout`), stops the threads.
  void Stop(std::chrono::milliseconds timeout);

 private:
  CacheNode(const CacheNodeOptions& options, base::Registry& metrics);
  // One client connection (or a backup's replication stream).
  boost::asio::awaitable<void> Serve(net::Connection& connection);
  // Sync mode: returns when a backup has `sequence`, or at the sync timeout.
  boost::asio::awaitable<void> WaitForBackup(uint64_t sequence);

  ExecutorOptions executor_options_;
  Store store_;
  CacheMetrics metrics_;
  ReplicationLog replication_log_;
  ReplicationCounters replication_counters_;
  ReplicaState replica_state_;
  std::atomic<bool> read_only_;
  std::atomic<bool> sync_replication_;
  const std::chrono::milliseconds sync_timeout_;
  base::Counter& sync_degraded_;
  std::atomic<bool> stopping_{false};
  net::ShardPool pool_;
  std::unique_ptr<net::Server> server_;
  boost::asio::ip::tcp::endpoint endpoint_;
  std::jthread sweeper_;
};

}  // namespace trellis::cache
