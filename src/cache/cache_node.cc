#include "cache/cache_node.h"

#include <condition_variable>
#include <mutex>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/cluster_slot.h"
#include "net/waker.h"
#include "proto/memcache/parser.h"
#include "proto/memcache/request_reader.h"

namespace trellis::cache {

namespace asio = boost::asio;
using proto::memcache::ChangesItems;
using proto::memcache::ParseStatus;

namespace {

// Replies are written when a batch of pipelined requests is done, or sooner past this.
constexpr size_t kFlushReplyBytes = 256 * 1024;

}  // namespace

asio::awaitable<void> CacheNode::Serve(net::Connection& connection) {
  Executor executor(store_, metrics_, executor_options_);
  proto::memcache::RequestReader reader(executor_options_.max_item_size);
  const proto::memcache::Request& request = reader.request();
  std::string out;
  bool open = true;
  // The map version the peer routes by (`mapv`, slot_guard.h), if it said one.
  std::optional<uint64_t> map_version;
  // Not `while (open && co_await ...)`: g++ 12 evaluates a co_await on the right of && even
  // when the left side is false.
  while (open) {
    if (!co_await connection.ReadMore()) {
      break;
    }
    const uint32_t now = base::CoarseUnixSeconds();
    const auto batch_start = std::chrono::steady_clock::now();
    const std::string_view write_refusal = write_gate_.Refusal(batch_start);
    uint64_t sequence_before = ReplicationLog::LastSequenceOfThisThread();
    // Where in `out` the writes' replies are, when sync mode may have to turn them into
    // errors; not tracked otherwise.
    std::vector<std::pair<size_t, size_t>> write_replies;
    const bool track_writes = sync_replication_ && refuse_unreplicated_writes_;
    for (;;) {
      const auto result = reader.Next(connection);
      if (result.status == ParseStatus::kNeedMore) {
        break;
      }
      if (result.status == ParseStatus::kClose) {
        open = false;
        break;
      }
      ReplicateCommand replicate;
      if (result.status == ParseStatus::kError && out.empty() &&
          ParseReplicateCommand(connection.input().substr(0, result.consumed - 1), &replicate)) {
        connection.Consume(result.consumed);
        if (write_gate_.backup()) {
          // Only a main streams. A node that restarted empty and has no role yet must not
          // send its empty store as a snapshot to a backup that still follows it (the
          // backup would drop everything it has before it learns that it is the main).
          co_await connection.Write("SERVER_ERROR not a main: this node is a backup\r\n");
          co_return;
        }
        // A backup or an archive: from now on this connection carries the stream.
        LogMutations();
        co_await ServeReplication(connection, store_, replication_log_, replication_counters_,
                                  write_gate_, replicate);
        co_return;
      }
      uint64_t version = 0;
      if (result.status == ParseStatus::kError &&
          ParseMapVersionCommand(connection.input().substr(0, result.consumed), &version)) {
        map_version = version;  // No reply.
      } else if (result.status == ParseStatus::kError) {
        proto::memcache::AppendParseError(request, result.error, &out);
      } else if (result.status == ParseStatus::kTooLarge) {
        executor.RejectTooLarge(request, now, &out);
      } else if (map_version && !slot_guard_.Allows(*map_version, request)) {
        out.append(kStaleMapReply);
      } else if (!write_refusal.empty() && ChangesItems(request) &&
                 !DeletesWhatMovedAway(request)) {
        out.append(write_refusal);
      } else {
        const size_t reply_start = out.size();
        open = executor.Execute(request, now, &out);
        if (track_writes && ChangesItems(request)) {
          write_replies.emplace_back(reply_start, out.size());
        }
      }
      // The request's views point into the input: consume only after executing it.
      reader.Consume(connection);
      if (!open) {
        break;
      }
      if (out.size() > kFlushReplyBytes) {
        if (sync_replication_) {
          co_await HoldUntilReplicated(&out, &write_replies, &sequence_before);
        }
        if (!co_await connection.Write(out)) {
          co_return;
        }
        out.clear();
      }
    }
    if (sync_replication_) {
      co_await HoldUntilReplicated(&out, &write_replies, &sequence_before);
    }
    if (!out.empty()) {
      if (!co_await connection.Write(out)) {
        co_return;
      }
      out.clear();
      metrics_.batch_seconds.Observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - batch_start).count());
    }
  }
}

asio::awaitable<void> CacheNode::HoldUntilReplicated(
    std::string* out, std::vector<std::pair<size_t, size_t>>* write_replies,
    uint64_t* sequence_before) {
  const uint64_t sequence = ReplicationLog::LastSequenceOfThisThread();
  bool replicated = true;
  if (sequence != *sequence_before) {
    // Not folded into the condition: g++ 12 evaluates a co_await on the right of && even
    // when the left side is false.
    replicated = co_await WaitForBackup(sequence);
  }
  if (!replicated && refuse_unreplicated_writes_) {
    // Not acknowledged means not answered as done: each write's reply becomes an error.
    std::string rewritten;
    size_t copied = 0;
    for (const auto& [start, end] : *write_replies) {
      rewritten.append(*out, copied, start - copied);
      if (end > start) {
        rewritten.append("SERVER_ERROR not replicated: no backup acknowledged in time\r\n");
      }
      copied = end;
    }
    rewritten.append(*out, copied);
    out->swap(rewritten);
  }
  *sequence_before = sequence;
  write_replies->clear();
}

asio::awaitable<bool> CacheNode::WaitForBackup(uint64_t sequence) {
  // Without a backup for longer than the sync timeout the main is degraded: it answers
  // at once (and counts it) rather than making every write wait out the timeout. A
  // backup that is only reconnecting gets the timeout to come back and acknowledge.
  const auto alone_for =
      std::chrono::steady_clock::now().time_since_epoch() -
      std::chrono::steady_clock::duration(replication_counters_.alone_since_ns.load());
  if (replication_counters_.backups.load() == 0 && alone_for > sync_timeout_) {
    sync_degraded_.Increment();
    co_return false;
  }
  // So is a main whose backups stay connected but acknowledge nothing (their host cut off
  // or frozen): as MariaDB's semi-synchronous replication does, after one write timed out
  // the main answers at once until a backup has acknowledged that write, then waits
  // again. Before this, each write through such a main took the whole timeout.
  if (SyncLapsed()) {
    sync_degraded_.Increment();
    co_return false;
  }
  const auto executor = co_await asio::this_coro::executor;
  auto waker = std::make_shared<net::Waker>(executor);
  replication_log_.NotifyAcknowledged(
      sequence, [waker, executor] { asio::post(executor, [waker] { waker->Wake(); }); });
  co_await waker->WaitUntil(std::chrono::steady_clock::now() + sync_timeout_);
  if (replication_log_.acknowledged() < sequence) {
    uint64_t lapsed = sync_lapsed_at_.load(std::memory_order_relaxed);
    while (lapsed < sequence &&
           !sync_lapsed_at_.compare_exchange_weak(lapsed, sequence, std::memory_order_relaxed)) {
    }
    sync_degraded_.Increment();
    co_return false;
  }
  co_return true;
}

CacheNode::CacheNode(const CacheNodeOptions& options, base::Registry& metrics)
    : executor_options_{options.max_item_size, base::CoarseUnixSeconds(), options.threads,
                        options.max_connections, [this] { return ReplicationStats(); }},
      store_(StoreOptions{options.memory_bytes, options.evict}),
      metrics_(metrics),
      replication_log_(options.replication_log_bytes),
      write_gate_(options.follows_master, options.replica_of.has_value() || options.follows_master),
      slot_guard_(options.follows_master),
      sync_replication_(options.sync_replication),
      sync_timeout_(options.sync_timeout),
      refuse_unreplicated_writes_(options.refuse_unreplicated_writes),
      sync_degraded_(metrics.GetCounter(
          "trellis_replication_sync_degraded_total",
          "Sync-mode writes answered without a backup's acknowledgement (none connected, or "
          "--sync-timeout passed).")),
      cluster_tls_(options.cluster_tls),
      pool_(options.threads) {}

base::Result<std::unique_ptr<CacheNode>> CacheNode::Start(const CacheNodeOptions& options,
                                                          base::Registry& metrics) {
  std::unique_ptr<CacheNode> node(new CacheNode(options, metrics));
  if (options.tls) {
    TRELLIS_TRY(node->tls_, net::ReloadableTlsContext::Load(*options.tls));
  }
  net::ServerOptions server_options;
  server_options.name = "cache";
  server_options.listen = options.listen;
  server_options.max_connections = options.max_connections;
  server_options.idle_timeout = options.idle_timeout;
  server_options.overload_reply = "ERROR Too many open connections\r\n";
  server_options.tls = node->tls_;
  CacheNode* self = node.get();
  auto server = net::Server::Start(
      node->pool_, server_options,
      [self](net::Connection& connection) { return self->Serve(connection); }, metrics);
  if (!server) {
    return server.error();
  }
  node->server_ = std::move(server).value();
  node->endpoint_ = node->server_->local_endpoint();
  Store* store = &node->store_;
  metrics.AddGaugeCallback("trellis_cache_items", "Items stored now.",
                           [store] { return static_cast<int64_t>(store->Stats().items); });
  metrics.AddGaugeCallback("trellis_cache_bytes", "Item memory charged against the limit.",
                           [store] { return static_cast<int64_t>(store->Stats().bytes); });
  metrics.AddGaugeCallback("trellis_cache_limit_bytes", "The item memory limit (--memory).",
                           [store] { return static_cast<int64_t>(store->memory_limit()); });
  metrics.AddCounterCallback("trellis_cache_evictions_total", "Items evicted to make room.",
                             [store] { return store->Stats().evictions; });
  metrics.AddCounterCallback("trellis_cache_expired_total", "Items removed after expiring.",
                             [store] { return store->Stats().expired; });
  metrics.AddCounterCallback("trellis_cache_stored_total", "Items ever stored.",
                             [store] { return store->Stats().total_items; });
  const ReplicationLog* log = &node->replication_log_;
  const ReplicationCounters* counters = &node->replication_counters_;
  metrics.AddGaugeCallback("trellis_replication_backups", "Backups streaming from this node.",
                           [counters] { return counters->backups.load(); });
  metrics.AddGaugeCallback("trellis_replication_sequence", "Last sequence of the replication log.",
                           [log] { return static_cast<int64_t>(log->last_sequence()); });
  metrics.AddGaugeCallback("trellis_replication_acknowledged_sequence",
                           "Highest sequence a backup has acknowledged.",
                           [log] { return static_cast<int64_t>(log->acknowledged()); });
  const ReplicaState* replica = &node->replica_state_;
  metrics.AddGaugeCallback("trellis_replica_applied_sequence",
                           "The main's sequence this backup has applied.",
                           [replica] { return static_cast<int64_t>(replica->applied.load()); });
  metrics.AddGaugeCallback("trellis_replica_connected", "1 while streaming from the main.",
                           [replica] { return replica->connected.load() ? 1 : 0; });
  metrics.AddGaugeCallback("trellis_replica_lag_milliseconds",
                           "How old the main's last heartbeat applied here is (-1: none yet).",
                           [replica] { return replica->LagMs(); });
  const WriteGate* gate = &node->write_gate_;
  metrics.AddGaugeCallback(
      "trellis_cache_read_only",
      "1 while client writes are refused: a backup, a frozen main, or a main without a lease.",
      [gate] { return gate->Refusal(std::chrono::steady_clock::now()).empty() ? 0 : 1; });
  if (options.replica_of) {
    node->replication_log_.Follow();
  }
  node->replica_state_.SetMain(options.replica_of);
  node->SetSyncReplication(options.sync_replication);
  asio::co_spawn(node->pool_.context(0),
                 RunReplica(node->store_, node->replication_log_, node->replica_state_,
                            node->cluster_tls_.get(), node->stopping_),
                 asio::detached);
  // Everything the connections and the replica read is set: only now do threads run.
  node->pool_.Start();
  node->sweeper_ = std::jthread([self](std::stop_token stop) {
    // Expired items give their memory back within about a second even if never read.
    while (!stop.stop_requested()) {
      self->store_.SweepExpired(base::CoarseUnixSeconds(), 1 << 16);
      std::mutex mu;
      std::condition_variable_any cv;
      std::unique_lock lock(mu);
      cv.wait_for(lock, stop, std::chrono::milliseconds(100), [] { return false; });
    }
  });
  return node;
}

std::vector<std::pair<const char*, int64_t>> CacheNode::ReplicationStats() const {
  const ReplicationStatus status = replication_status();
  std::vector<std::pair<const char*, int64_t>> stats = {
      {"replication_sequence", static_cast<int64_t>(status.sequence)},
      {"read_only", status.read_only ? 1 : 0},
      {"replication_backups", status.backups},
      {"replica_applied_sequence", static_cast<int64_t>(status.applied)}};
  if (status.lag_ms >= 0) {
    stats.emplace_back("replica_lag_ms", status.lag_ms);
  }
  return stats;
}

CacheNode::ReplicationStatus CacheNode::replication_status() const {
  const bool sync = sync_replication_.load();
  return {!write_gate_.Refusal(std::chrono::steady_clock::now()).empty(),
          sync,
          replication_log_.last_sequence(),
          replica_state_.applied.load(),
          replication_counters_.backups.load(),
          sync_degraded_.Value(),
          write_gate_.backup() ? replica_state_.LagMs() : -1,
          sync && (replication_counters_.backups.load() == 0 || SyncLapsed())};
}

bool CacheNode::SyncLapsed() const {
  const uint64_t lapsed = sync_lapsed_at_.load(std::memory_order_relaxed);
  return lapsed != 0 && replication_log_.acknowledged() < lapsed;
}

void CacheNode::SetSyncReplication(bool sync) {
  if (sync && !write_gate_.backup()) {
    // Sync writes wait for their sequence numbers: the log numbers them from now on.
    LogMutations();
  }
  sync_replication_ = sync;
}

bool CacheNode::DeletesWhatMovedAway(const proto::memcache::Request& request) const {
  using proto::memcache::Command;
  return (request.command == Command::kDelete ||
          (request.command == Command::kMetaDelete && !request.meta.Has('I'))) &&
         store_.moving(base::ClusterSlotOf(request.key)) == Store::Moving::kOut;
}

void CacheNode::ApplySlots(const master::ClusterState& map, std::string_view group) {
  slot_guard_.Update(map, group);
  for (const master::SlotRange& range : map.slot_ranges) {
    Store::Moving moving = Store::Moving::kNo;
    if (range.target == group) {
      moving = Store::Moving::kIn;
    } else if (range.target && range.group == group) {
      moving = Store::Moving::kOut;
    }
    for (uint32_t slot = range.first; slot <= range.last; ++slot) {
      if (store_.moving(slot) != moving) {
        store_.SetMoving(slot, moving);
      }
    }
  }
}

void CacheNode::LogMutations() {
  store_.SetMutationListener(&replication_log_);
  replication_log_.Lead();
}

void CacheNode::BecomeMain(uint64_t epoch) {
  replica_state_.SetMain(std::nullopt);
  // The log goes on from the main's, which it mirrored: the old main's other consumers
  // continue from where they were (ReplicationLog).
  LogMutations();
  write_gate_.BecomeMain(epoch, replica_state_.MainLeaseEnd());
}

void CacheNode::BecomeBackupOf(const asio::ip::tcp::endpoint& main) {
  write_gate_.BecomeBackup();
  replication_log_.Follow();
  replica_state_.SetMain(main);
}

CacheNode::~CacheNode() { Drain(std::chrono::milliseconds(0)); }

base::Status CacheNode::Reload() { return tls_ != nullptr ? tls_->Reload() : base::Status(); }

std::vector<daemon::Listener> CacheNode::listeners() const {
  return {{"cache", "memcached protocol", endpoint_}};
}

void CacheNode::ReportStatus(nlohmann::json& status) const {
  const ReplicationStatus replication = replication_status();
  status["replication"] = {
      {"read_only", replication.read_only},
      {"mode", replication.sync ? "sync" : "async"},
      {"sequence", replication.sequence},
      {"applied", replication.applied},
      {"lag_ms", replication.lag_ms >= 0 ? nlohmann::json(replication.lag_ms) : nlohmann::json()},
      {"backups", replication.backups},
      {"degraded_writes", replication.degraded_writes},
      {"degraded", replication.degraded}};
}

void CacheNode::Drain(std::chrono::milliseconds timeout) {
  stopping_ = true;
  if (server_) {
    server_->Drain(timeout);
    server_.reset();
  }
  pool_.Stop();
  sweeper_ = {};
}

}  // namespace trellis::cache
