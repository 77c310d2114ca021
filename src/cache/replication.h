// Main -> backup replication of a cache node (docs/cache.md, "Replication").
//
// ServeReplication runs on the main, on a client connection that opened with
// "trellis-replicate <log id> <after>[ archive]\r\n": it sends a snapshot first when the
// consumer cannot continue from `after` in this log (new, too far behind, or it followed
// another log; a log this one continues counts, up to where it was continued, and the
// stream then opens with a 'C' frame naming this log), then the log's records as they
// come, and reads a backup's
// acknowledgements (an archive's stream is the same, but it counts as no backup and its
// acknowledgements, if any, are ignored).
// The snapshot's position is taken before it starts and the tail is sent from there, so
// no write is missed; writes made during the snapshot may arrive twice, which is harmless
// because every record carries the whole resulting item. Every 100 ms it also sends a
// heartbeat; a backup's acknowledgement of one renews the main's lease (write_gate.h),
// and its wall-clock time tells the backup how far behind it is.
//
// RunReplica runs on a backup: it connects to the main's memcached port, asks for the
// stream from what it has applied, applies every record to its own store (keeping the
// main's CAS values) and to its log (which mirrors the main's, so that, promoted, it can
// continue the stream for the old main's other consumers), acknowledges (heartbeats at
// once), and reconnects after any failure.
//
// Thread safety: each runs on one shard; the Store and the log are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "cache/replication_log.h"
#include "cache/store.h"
#include "cache/write_gate.h"
#include "net/connection.h"
#include "net/tls_context.h"

namespace trellis::cache {

// Who opened a replication stream: a backup (it acknowledges, renews the main's lease and
// counts for sync mode), or an archive (the backup center: it only reads).
enum class StreamConsumer { kBackup, kArchive };

struct ReplicateCommand {
  uint64_t log_id = 0;
  uint64_t after = 0;
  StreamConsumer consumer = StreamConsumer::kBackup;
};

// Parses "trellis-replicate <log id> <after>[ archive]" (without the "\n").
bool ParseReplicateCommand(std::string_view line, ReplicateCommand* command);

struct ReplicationCounters {
  std::atomic<int64_t> backups{0};  // Backups streaming from this main now.
  // When the last backup went away (steady clock, ns); the node's start until then.
  std::atomic<int64_t> alone_since_ns{std::chrono::steady_clock::now().time_since_epoch().count()};
};

boost::asio::awaitable<void> ServeReplication(net::Connection& connection, Store& store,
                                              ReplicationLog& log, ReplicationCounters& counters,
                                              WriteGate& gate, ReplicateCommand command);

class ReplicaState {
 public:
  std::atomic<uint64_t> applied{0};    // The main's sequence applied so far.
  std::atomic<bool> connected{false};  // Streaming from the main now.
  std::atomic<uint64_t> snapshots{0};  // Full snapshots received.
  // From the main's last heartbeat: its Unix time in ms (0: none yet), its lease length,
  // whether the master had frozen it.
  std::atomic<uint64_t> main_wall_ms{0};
  std::atomic<uint32_t> main_lease_ms{0};
  std::atomic<bool> main_frozen{false};
  // When this node last acknowledged a heartbeat (steady clock, ns): it renewed the
  // main's lease until at most then plus main_lease_ms.
  std::atomic<int64_t> last_heartbeat_ack_ns{0};

  // How far behind the main this node's data is: now minus the time of the main's last
  // heartbeat applied; -1 before the first.
  int64_t LagMs() const;
  // When the lease that this node's acknowledgements granted the main it follows runs out
  // at the latest, for a promotion: call after SetMain(nullopt). Past if that main was
  // frozen for a switchover (it takes no write until the master demotes it) or never had
  // a lease.
  std::chrono::steady_clock::time_point MainLeaseEnd() const;

  // Which main to follow (none: this node is not a backup). A change takes effect
  // within a fraction of a second: the stream in progress stops and the next one starts.
  void SetMain(std::optional<boost::asio::ip::tcp::endpoint> main);
  std::optional<boost::asio::ip::tcp::endpoint> main() const;
  uint64_t generation() const { return generation_.load(); }

 private:
  mutable std::mutex mu_;
  std::optional<boost::asio::ip::tcp::endpoint> main_;  // Guarded by mu_.
  std::atomic<uint64_t> generation_{0};
};

// Follows the main that `state` names, whenever it names one, until `stop`; `log`
// follows the main's (ReplicationLog::Follow, called before the main is named). `tls`:
// the cluster's client TLS to reach the main with (mutual TLS), null for plaintext.
boost::asio::awaitable<void> RunReplica(Store& store, ReplicationLog& log, ReplicaState& state,
                                        net::TlsClientContext* tls, const std::atomic<bool>& stop);

// Applies one record of a main's stream to `store` at time `now`.
void ApplyRecord(Store& store, const MutationRecord& record, uint32_t now);

}  // namespace trellis::cache
