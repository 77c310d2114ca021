// MasterNode: the CMEM master. It owns the cluster map (persisted by MapStore), serves
// the HTTP/JSON API on its own address, probes every cache node, and replaces a main
// that stops answering by its most up-to-date healthy backup. The API's bodies are the
// types of master/client/cluster_state.h.
//
// API (JSON bodies; errors are {"error": "...", "code": "..."} with the status the error's
// code gives, http/server.h):
//   GET    /v1/cluster[?after=V&wait=S&node=HOST:PORT]
//                                        the map; with `after`, waits up to S seconds
//                                        (default 10, at most 60, fractions allowed) for a
//                                        version above V, and answers 304 (no body) if
//                                        the map is still at V; `node`: a cache node
//                                        asking, which renews its lease if the map names
//                                        it main
//   POST   /v1/groups                    {"name": "g1"}
//   POST   /v1/nodes                     {"group": "g1", "address": "HOST:PORT"} ->
//                                        {"role": "main"|"backup", "main": ..., "epoch": N}
//   DELETE /v1/nodes/HOST:PORT
//   POST   /v1/groups/NAME/failover      [{"epoch": N}] a switchover to the best backup:
//                                        the main refuses writes until that backup caught
//                                        up; with `epoch`, only if the group is still at it
//   POST   /v1/groups/NAME/mode          {"mode": "sync"|"async"}
//   DELETE /v1/groups/NAME               a group that serves no slot, with its nodes
//   POST   /v1/rebalance                 {"max_rate": N, "dry_run": false} -> the plan
//                                        (RebalanceReply), started unless a dry run
//   POST   /v1/groups/NAME/drain         the same, moving every slot off NAME
//   GET    /v1/migrations                progress of the rebalance (MigrationStatus)
//   PUT    /v1/services/NAME             ServiceRegistration (its name NAME) -> the
//                                        ServiceStatus stored; registers a platform service
//                                        or renews its lease (kServiceLease, 15 s)
//   GET    /v1/services                  the live services by name (ServiceList)
//   DELETE /v1/services/NAME             forgets it at once (204; 404 if not registered)
//   /v1/tokens...                        access tokens (token_service.h)
//   /v1/tenants...                       the cache's tenants, kept in the map
//                                        (tenant_service.h)
//   /v1/volumes...                       the block store's volumes (volume_service.h)
// GETs need a token of scope read, every other call operate (http/auth.h), once the
// master takes tokens (MasterOptions::admin_token_file); tokens and tenants say their own.
//
// Every node and access node holds a long-poll open on the API, so its connection cap is
// its own (`max_connections`), not the admin endpoint's.
//
// One operation per group at a time: a switchover, a node's removal (which waits out
// its lease) and a probe-driven failover of the same group never interleave; a request
// that finds its group busy is refused (409) and the probe loop leaves the group alone,
// so one failure never promotes twice.
//
// Probing: every `probe_interval` the master asks every node at once for `stats` (over
// its memcached port) and reads its replication sequence and lag; `failure_threshold`
// failures in a row make a node unhealthy, and an unhealthy main is replaced once its
// lease ran out.
//
// Leases (fencing, docs/master.md): a main takes writes only while it holds a lease of
// `failure_threshold` x `probe_interval`, renewed each time it asks for the map. A main is
// only replaced after that long since its last renewal, so a main cut off from the master
// has stopped taking writes (unless a backup still follows it, which then cannot be
// promoted before it waited out the same). A restarted master counts every main as
// renewed when it started.
//
// Services (service_registry.h): daemons that are not cache nodes (the backup center, a
// gateway, a monitor) register there to show in `trellis cluster status` and be found.
// Their registrations are leases held in memory only, not in the map's store: each
// service renews its own every 5 s, so a restarted master knows them all again within one
// renewal.
//
// Rebalancing (docs/scale-out.md): the plan (rebalance_plan.h) weighs the slots by what
// every main reports of them (`stats slots`); the Rebalancer takes the moves through
// their steps, checked every tenth of a second while any runs, and is saved with the map
// so that a restarted master resumes it.
//
// Several masters (docs/deploy.md): given etcd (MasterOptions::etcd), masters share the
// map there and one leads (etcd_map_store.h). Only the leader probes, fails over, moves
// slots and changes the map; a follower answers GET /v1/cluster (a long-poll included:
// it learns of every change from its watch of etcd) and /v1/tokens itself, and any other
// request with a redirect to the leader (307, Location: the leader's URL and the same
// target), or 421 while it knows no leader; a plain GET /v1/cluster goes to the leader
// too (its map carries what its probes found), but while none leads the follower answers
// it with the map it has. A main's lease renewal (GET /v1/cluster with
// `node`) goes to the leader too. A master that takes over counts every main as renewed
// when it took over, as a restarted one does. A change the store refuses (this master
// no longer leads) is undone and answered 409; the master follows from then on.
//
// Thread safety: everything, the API included, runs on the master's own thread; Start
// and Drain from the daemon's main thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "base/metrics.h"
#include "base/result.h"
#include "daemon/service.h"
#include "http/server.h"
#include "master/cluster_map.h"
#include "master/etcd_map_store.h"
#include "master/map_store.h"
#include "master/rebalancer.h"
#include "master/service_registry.h"
#include "master/tenant_service.h"
#include "master/token_service.h"
#include "master/volume_service.h"
#include "net/shard_pool.h"
#include "net/tls_context.h"
#include "net/waker.h"

namespace trellis::master {

struct MasterOptions {
  std::string data_dir;
  boost::asio::ip::tcp::endpoint listen;  // The API.
  size_t max_connections = 16384;         // API connections, long-polls included.
  std::chrono::milliseconds probe_interval{500};
  int failure_threshold = 3;
  // Require tokens on the API (token_service.h): the file of the first admin token,
  // written if it does not exist. Empty: the API takes no tokens.
  std::string admin_token_file;
  // The API over TLS (mutual TLS when it asks clients for certificates): the cluster's
  // identity files (daemon/flags.h, --cluster-*). Null: plaintext HTTP.
  std::shared_ptr<net::ReloadableTlsContext> tls;
  // How the probes reach the cache nodes: the cluster's client TLS (mutual TLS); null:
  // plaintext.
  std::shared_ptr<net::TlsClientContext> probe_tls;
  // The map in etcd, shared with other masters (etcd_map_store.h); no endpoints: in
  // SQLite under `data_dir`, this master alone.
  EtcdStoreOptions etcd;
};

class MasterNode : public daemon::Service {
 public:
  // Metrics (in `metrics`): trellis_master_failovers_total{kind="automatic"|"switchover"},
  // trellis_master_map_version, trellis_master_nodes_down, trellis_master_watches (open
  // long-polls); of the last rebalance: trellis_master_rebalance_slots{state="done"|
  // "moving"|"pending"}, trellis_master_rebalance_keys{state="moved"|"total"},
  // trellis_master_move_rate (keys/s each moving group may move now).
  static base::Result<std::unique_ptr<MasterNode>> Start(const MasterOptions& options,
                                                         base::Registry& metrics);
  ~MasterNode() override;

  const boost::asio::ip::tcp::endpoint& local_endpoint() const { return server_->local_endpoint(); }
  // Checks tokens against the master's own table (for its admin endpoint too); null when
  // the master takes no tokens.
  std::shared_ptr<http::Authenticator> authenticator() const { return tokens_->table(); }

  std::vector<daemon::Listener> listeners() const override;
  // Answers every waiting long-poll at once, finishes the API requests in flight (a
  // switchover waiting out a lease is cut at `timeout`) and stops probing.
  void Drain(std::chrono::milliseconds timeout) override;

 private:
  MasterNode(const MasterOptions& options, base::Registry& metrics);
  std::shared_ptr<const http::Router> Routes();

  boost::asio::awaitable<http::Response> GetCluster(const http::Request& request);
  boost::asio::awaitable<http::Response> AddGroup(const http::Request& request);
  boost::asio::awaitable<http::Response> RegisterNode(const http::Request& request);
  // DELETE /v1/nodes/ADDRESS; a main is removed once its lease ran out.
  boost::asio::awaitable<http::Response> RemoveNode(const http::Request& request);
  // POST /v1/groups/NAME/failover.
  boost::asio::awaitable<http::Response> Switchover(const http::Request& request);
  boost::asio::awaitable<http::Response> SetMode(const http::Request& request);
  boost::asio::awaitable<http::Response> RemoveGroup(const http::Request& request);
  boost::asio::awaitable<http::Response> Rebalance(const http::Request& request);
  boost::asio::awaitable<http::Response> Drain(const http::Request& request);
  boost::asio::awaitable<http::Response> GetMigrations(const http::Request& request);
  // PUT, GET and DELETE /v1/services.
  boost::asio::awaitable<http::Response> RegisterService(const http::Request& request);
  boost::asio::awaitable<http::Response> ListServices(const http::Request& request);
  boost::asio::awaitable<http::Response> DeregisterService(const http::Request& request);
  // Plans moves that even out the groups, every group in `draining` ending with no slot,
  // and starts them unless `request` is a dry run.
  boost::asio::awaitable<http::Response> PlanAndStart(const RebalanceRequest& request,
                                                      std::vector<std::string> draining);

  // Marks `group` busy for one operation; a kConflict error if it is busy already.
  class GroupOperation;
  base::Result<GroupOperation> BeginOperation(const std::string& group, std::string_view what);

  boost::asio::awaitable<void> ProbeLoop();
  // Takes running moves on while there are any (rebalancer.h).
  boost::asio::awaitable<void> MigrationLoop();
  // What every slot holds at its group's main (`stats slots`), or, `moving_only`, what the
  // slots moving away hold at their source's main (`stats moving`: cheap while moves run).
  boost::asio::awaitable<Rebalancer::SlotLoads> ProbeSlotLoads(bool moving_only);
  // Sends `command` to a node's memcached port and reads the reply up to its END line;
  // nullopt if the node does not answer within `timeout`.
  boost::asio::awaitable<std::optional<std::string>> AskStats(
      std::string address, std::string_view command, std::chrono::steady_clock::duration timeout);
  void SaveRebalance();
  // The rebalance gauges, from its status now.
  void UpdateRebalanceGauges();
  // Probes every node once, all at the same time, and records what they answer.
  boost::asio::awaitable<void> ProbeAll();
  // Replaces every main that is down and whose lease ran out, unless its group is busy.
  void FailOverDeadMains();
  std::chrono::milliseconds lease() const {
    return options_.probe_interval * options_.failure_threshold;
  }
  // When the lease last granted to `node` runs out. A main may have renewed its lease
  // with the master this one replaces just before this one took over.
  std::chrono::steady_clock::time_point LeaseEnd(const NodeInfo& node) const {
    return std::max(node.lease_granted, leading_since_) + lease();
  }
  // Leadership (map_store.h, Campaigner); on the master's thread.
  void OnElected();
  void OnDeposed();
  // Another master changed the store: a follower reads the map again, any master the
  // tokens.
  void OnChanged();
  // Reads the map from the store; a follower takes it if it is another version.
  void FollowStore();
  bool Leads() const { return leading_ && store_->Leading(); }
  // A follower's answer to what only the leader answers (see above); nullopt: serve it.
  std::optional<http::Response> FollowerAnswer(const http::Request& request) const;
  // The URL this master announces when it leads.
  std::string OwnUrl() const;
  // Waits until the lease of `address` (if a node) ran out.
  boost::asio::awaitable<void> WaitOutLease(const std::string& address);
  // What a probe learns: the node's sequence (see ProbeLoop) and whether it refuses
  // writes now.
  struct ProbeResult {
    uint64_t sequence = 0;
    bool read_only = false;
    uint64_t pid = 0;
    int64_t lag_ms = -1;
    uint64_t items = 0;
    uint64_t bytes = 0;
  };
  // Asks one node for its stats; nullopt if it does not answer in time.
  boost::asio::awaitable<std::optional<ProbeResult>> Probe(std::string address);
  // A switchover without loss: freezes the group's main (it refuses writes) and waits
  // until a healthy backup has applied all it wrote (at most 5 s). True if the main was
  // seen frozen (it takes no more writes, so its lease need not run out).
  boost::asio::awaitable<bool> CatchUpBeforeSwitchover(const std::string& group);
  // After a change: saves the map, updates the gauges and wakes every waiting GET. If
  // the store refuses it, the map goes back to the last one saved and the error says why.
  base::Status Publish();
  // GET /v1/cluster's body, serialised once per map version and probe round: every
  // node's long-poll wakes on the same change, and the map of a cluster in the middle of
  // a move holds thousands of slot ranges.
  const std::string& MapBody();
  void WakeWatchers();

  const MasterOptions options_;
  // When this master last took over (or started, alone): every main counts as renewed then.
  std::chrono::steady_clock::time_point leading_since_ = std::chrono::steady_clock::now();
  base::Counter& automatic_failovers_;
  base::Counter& switchovers_;
  base::Gauge& map_version_;
  base::Gauge& nodes_down_;
  base::Gauge& watches_;
  base::Gauge &slots_done_, &slots_moving_, &slots_pending_, &keys_moved_, &keys_total_,
      &move_rate_;
  net::ShardPool pool_{1};
  std::unique_ptr<MapStore> store_;
  std::unique_ptr<TokenService> tokens_;
  ClusterMap map_;
  ClusterMap saved_map_;  // The last map the store took: what a refused change goes back to.
  bool leading_ = false;  // Told by the store; Leads() also asks it whether it still holds.
  TenantService tenants_{map_, [this] { return Publish(); }};
  Rebalancer rebalancer_;
  uint64_t saved_rebalance_revision_ = 0;  // The rebalancer's record_revision() in the store.
  Rebalancer::SlotLoads slot_loads_;       // As last probed while moves ran.
  std::unique_ptr<http::Server> server_;
  // The master's thread only:
  std::vector<std::shared_ptr<net::Waker>> waiting_;  // Long-polls waiting for a change.
  net::Waker* migration_waker_ = nullptr;             // MigrationLoop's, while it runs.
  uint64_t probe_rounds_ = 0;  // Bumped whenever probes change the nodes' figures.
  struct {
    uint64_t version = 0;
    uint64_t probe_rounds = 0;
    std::string body;  // Empty until the first GET.
  } map_body_;
  std::set<std::string> busy_groups_;       // Groups with an operation running.
  ServiceRegistry services_;                // Platform services' leases; in memory only.
  std::unique_ptr<VolumeService> volumes_;  // The block store's volumes, once store_ is open.
  bool stopping_ = false;                   // Set by Drain: answer, do not wait.
  bool drained_ = false;                    // Main thread only.
};

}  // namespace trellis::master
