// CacheNode: a running cache node: the Store, its memcached-protocol server on a
// ShardPool, and the expiry sweeper. `trellis cache` runs one; `trellis up` embeds one.
//
// Thread safety: Start/Drain from the daemon's main thread; role changes from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "base/metrics.h"
#include "base/result.h"
#include "cache/executor.h"
#include "cache/replication.h"
#include "cache/replication_log.h"
#include "cache/slot_guard.h"
#include "cache/store.h"
#include "cache/write_gate.h"
#include "daemon/service.h"
#include "net/reloadable_tls_context.h"
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
  // The node follows a master: it refuses writes until told a role (BecomeMain), and as
  // a main takes them only under a lease (cache/write_gate.h).
  bool follows_master = false;
  bool sync_replication = false;
  std::chrono::milliseconds sync_timeout{1000};
  // Sync mode: a write no backup acknowledged in time is answered with SERVER_ERROR
  // instead of its reply (it may still be on the main), so that no acknowledged write can
  // be lost; otherwise it is answered normally and counted as degraded.
  bool refuse_unreplicated_writes = false;
  size_t replication_log_bytes = 64 << 20;
  // TLS on the port (memcached's -Z): every connection starts with a handshake; with a
  // client CA, only holders of its certificates get in. A node of a cluster with a CA
  // serves mutual TLS with the cluster's certificates (docs/security.md).
  std::optional<net::TlsServerFiles> tls;
  // How this node reaches the others (replication, slot moves): the cluster's client TLS
  // (mutual TLS); null: plaintext.
  std::shared_ptr<net::TlsClientContext> cluster_tls;
};

class CacheNode : public daemon::Service {
 public:
  static base::Result<std::unique_ptr<CacheNode>> Start(const CacheNodeOptions& options,
                                                        base::Registry& metrics);
  ~CacheNode() override;

  const boost::asio::ip::tcp::endpoint& local_endpoint() const { return endpoint_; }
  Store& store() { return store_; }
  const ReplicaState& replica_state() const { return replica_state_; }
  // CacheNodeOptions::cluster_tls.
  const std::shared_ptr<net::TlsClientContext>& cluster_tls() const { return cluster_tls_; }

  // For /v1/status: where this node stands in replication.
  struct ReplicationStatus {
    bool read_only = false;  // A backup, a frozen main, or a main without a lease.
    bool sync = false;
    uint64_t sequence = 0;         // Of this node's own log.
    uint64_t applied = 0;          // Of its main's log, as a backup.
    int64_t backups = 0;           // Streaming from this node.
    uint64_t degraded_writes = 0;  // Sync writes answered without a backup's acknowledgement.
    int64_t lag_ms = -1;           // As a backup: how old its main's last heartbeat is (-1: none).
    // In sync mode, answering writes without waiting: no backup for longer than the sync
    // timeout, or one that has not acknowledged the last write that timed out.
    bool degraded = false;
  };
  ReplicationStatus replication_status() const;

  // Role changes, from the master (any thread): the main at `epoch` takes writes (once the
  // lease of the main it replaces ran out); a backup follows `main` and refuses client
  // writes; sync mode makes writes wait for a backup.
  void BecomeMain(uint64_t epoch);
  void BecomeBackupOf(const boost::asio::ip::tcp::endpoint& main);
  void SetSyncReplication(bool sync);
  // The cluster map's slots as they concern this node's `group`: which versioned
  // requests it serves (slot_guard.h) and which slots move to or from it
  // (Store::SetMoving).
  void ApplySlots(const master::ClusterState& map, std::string_view group);
  // A main that refuses writes for a moment: the master's switchover.
  void SetFrozen(bool frozen) { write_gate_.SetFrozen(frozen); }
  // The master, asked at `asked`, named this node the main at `epoch`.
  void RenewLease(uint64_t epoch, WriteGate::Clock::time_point asked,
                  std::chrono::milliseconds length) {
    write_gate_.RenewByMaster(epoch, asked, length);
  }

  std::vector<daemon::Listener> listeners() const override;
  // SIGHUP: reads the TLS files again (the certificate's rotation).
  base::Status Reload() override;
  // {"replication": {read_only, mode, sequence, applied, lag_ms, backups, ...}}
  void ReportStatus(nlohmann::json& status) const override;
  // Stops accepting, finishes in-flight requests (up to `timeout`), stops the threads.
  void Drain(std::chrono::milliseconds timeout) override;

 private:
  CacheNode(const CacheNodeOptions& options, base::Registry& metrics);
  // One client connection (or a backup's replication stream).
  boost::asio::awaitable<void> Serve(net::Connection& connection);
  // Sync mode: true when a backup has `sequence`; false at the sync timeout, or at once
  // when no backup has been connected for longer than that.
  boost::asio::awaitable<bool> WaitForBackup(uint64_t sequence);
  // Sync mode (the caller checks), before replies go out: waits for the writes since
  // `sequence_before`, and
  // turns their replies (spans of `out`) into errors if no backup took them and
  // refuse_unreplicated_writes.
  boost::asio::awaitable<void> HoldUntilReplicated(
      std::string* out, std::vector<std::pair<size_t, size_t>>* write_replies,
      uint64_t* sequence_before);

  // Whether `request` deletes a key of a slot moving away from this node's group: taken
  // even while the node refuses writes (a new main waiting out its predecessor's lease),
  // since no client writes such a key here any more and a copy left behind would be read
  // by the access nodes' fallback reads (docs/scale-out.md).
  bool DeletesWhatMovedAway(const proto::memcache::Request& request) const;
  // The store's mutations are numbered and kept for consumers from now on (a stream was
  // asked for, sync mode, or a promotion).
  void LogMutations();
  // The replication figures of `stats` (ExecutorOptions::replication_stats).
  std::vector<std::pair<const char*, int64_t>> ReplicationStats() const;

  // Connections hold a reference to it from the moment the pool runs: nothing in it
  // changes after construction.
  const ExecutorOptions executor_options_;
  Store store_;
  CacheMetrics metrics_;
  ReplicationLog replication_log_;
  ReplicationCounters replication_counters_;
  ReplicaState replica_state_;
  WriteGate write_gate_;
  SlotGuard slot_guard_;
  std::atomic<bool> sync_replication_;
  const std::chrono::milliseconds sync_timeout_;
  const bool refuse_unreplicated_writes_;
  // Whether a backup has yet to acknowledge the last sync write that timed out.
  bool SyncLapsed() const;
  // The sequence of the last sync write that no backup acknowledged in time; 0: none.
  // Until a backup has acknowledged it, sync writes are answered at once (degraded).
  std::atomic<uint64_t> sync_lapsed_at_{0};
  base::Counter& sync_degraded_;
  std::atomic<bool> stopping_{false};
  std::shared_ptr<net::ReloadableTlsContext> tls_;  // Null for a plaintext port.
  const std::shared_ptr<net::TlsClientContext> cluster_tls_;
  net::ShardPool pool_;
  std::unique_ptr<net::Server> server_;
  boost::asio::ip::tcp::endpoint endpoint_;
  std::jthread sweeper_;
};

}  // namespace trellis::cache
