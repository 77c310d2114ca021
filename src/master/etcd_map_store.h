// EtcdMapStore: the cluster map in etcd, shared by several masters of which one leads
// (docs/deploy.md). etcd is the engine built for exactly this, so the masters invent no
// consensus of their own.
//
// Keys, under the cluster's prefix (--etcd-prefix, "/trellis/default"):
//   PREFIX/map           the map (StoredMap, cluster_state.h), one JSON value
//   PREFIX/rebalance     the rebalance in progress (rebalancer.h), and
//   PREFIX/volumes       the block volumes (volume_table.h): the documents (map_store.h)
//   PREFIX/tokens/ID     each access token (StoredToken)
//   PREFIX/leader        the leading master's URL, attached to its lease
//
// Election: each master holds an etcd lease of `leader_ttl`, renewed four times per TTL,
// and tries every renewal to create PREFIX/leader on it (a transaction that succeeds only
// if the key does not exist), and at once when its watch sees the key deleted. The one
// that creates it leads until its lease runs out: a master killed or cut off from etcd
// loses it within one TTL, and another takes over as soon as etcd deletes the key. A leader counts
// its lease as running out one TTL after it last sent a renewal that etcd granted, earlier than
// etcd can, and stops acting then (Leading()).
//
// Fencing: every write of the map or a document is a transaction that holds only if
// PREFIX/leader still has the create revision this master created it with, and the map
// the mod revision this master last read or wrote. So a master that paused past its
// lease and carries on as if it led has its first write refused by etcd itself; it then
// resigns (revokes its lease) and follows.
//
// Followers watch the prefix and are told of every change (Campaigner::changed), so they
// serve the map and check tokens from what etcd holds.
//
// The etcd calls, the campaign and the watch run on a thread of the store's own: a slow
// etcd never stalls the master's thread except for the calls it makes itself (Load,
// Save, ...), which wait for their answer, at most `call_timeout`.
//
// Thread safety: as MapStore.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "etcd/client.h"
#include "master/map_store.h"
#include "net/tls_context.h"

namespace trellis::master {

struct EtcdStoreOptions {
  std::vector<std::string> endpoints;  // The members' client URLs.
  std::string prefix = "/trellis/default";
  std::chrono::seconds leader_ttl{2};
  std::chrono::milliseconds call_timeout{2000};
  // For https:// endpoints: the CA their certificates are from. Null: plaintext.
  std::shared_ptr<net::TlsClientContext> tls;
};

class EtcdMapStore final : public MapStore {
 public:
  // Errors: no endpoint, a bad URL, a prefix that does not start with '/'. etcd need not
  // answer yet.
  static base::Result<std::unique_ptr<EtcdMapStore>> Open(const EtcdStoreOptions& options);
  // Resigns if it leads, so that another master takes over at once.
  ~EtcdMapStore() override;

  base::Result<ClusterMap> Load() override;
  base::Status Save(const ClusterMap& map) override;
  base::Result<nlohmann::json> LoadDocument(std::string_view name) override;
  base::Status SaveDocument(std::string_view name, const nlohmann::json& document) override;
  base::Result<std::vector<security::TokenRecord>> LoadTokens() override;
  base::Status SaveToken(const security::TokenRecord& token) override;
  base::Status DeleteToken(const std::string& id) override;

  void Campaign(const Campaigner& campaigner) override;
  void Resign() override { StepDown(); }
  bool Leading() const override;
  std::string leader_url() const override;

  // Writes `map`, `documents` (by name) and `tokens` into an etcd that holds no map
  // under the prefix yet, in one transaction; kConflict if it holds one. For carrying a
  // cluster over from SQLite (`trellis master migrate-store`).
  base::Status Import(const ClusterMap& map, const std::map<std::string, nlohmann::json>& documents,
                      const std::vector<security::TokenRecord>& tokens);

 private:
  explicit EtcdMapStore(const EtcdStoreOptions& options);
  std::string Key(std::string_view name) const { return options_.prefix + "/" + std::string(name); }
  // Runs `call` on the store's thread and waits for its result.
  template <typename T>
  T Run(std::function<boost::asio::awaitable<T>(etcd::Client&)> call);
  // The create revision of our leader key while we lead by our own count; 0 otherwise.
  int64_t LeaderRevision() const;
  // The value of `key`, or of every key that starts with it; none when there is none.
  base::Result<std::vector<etcd::KeyValue>> Read(const std::string& key, bool prefix);
  // A put of `key` guarded by this master's leadership and, for the map, by the map's
  // revision (see above). On a refusal: resigns, and answers kConflict.
  base::Status GuardedPut(const std::string& key, std::string value, bool is_map);
  // The store's thread: campaigns forever (see above), and watches the prefix.
  boost::asio::awaitable<void> CampaignLoop();
  boost::asio::awaitable<void> WatchLoop();
  // Stops leading: Leading() is false from now on, the master is told, and the lease is
  // revoked. Any thread.
  void StepDown();

  const EtcdStoreOptions options_;
  boost::asio::io_context io_;  // The store's thread's.
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::optional<etcd::Client> etcd_;
  Campaigner campaigner_;  // Set by Campaign().
  std::atomic<bool> stopping_{false};
  // Leadership; written on the store's thread (and by Save's refusal), read anywhere.
  mutable std::mutex mutex_;
  int64_t leader_revision_ = 0;  // Create revision of our PREFIX/leader; 0: not leading.
  std::chrono::steady_clock::time_point lease_end_{};  // Ours, as we count it.
  std::string leader_url_;                             // Whoever leads, as last seen.
  // The store's thread's:
  int64_t lease_ = 0;  // Our lease; 0: none granted yet, or lost.
  // Between two tries of the campaign; the watch cuts it short when the leader key goes.
  boost::asio::steady_timer campaign_timer_{io_};
  // The master's thread's: the map's mod revision as it last read or wrote it.
  int64_t map_revision_ = 0;
  std::thread thread_;  // Last: started once the rest is there.
};

}  // namespace trellis::master
