// MapStore: where the master keeps the cluster map (cluster_map.h) and decides which
// master leads. Two kinds: SqliteMapStore, a file for the one master of a cluster on one
// machine, which always leads; and EtcdMapStore, etcd shared by several masters, which
// elects one on an etcd lease and refuses the writes of any other.
//
// What a store keeps: the map's persistent part (groups, nodes and roles, epochs, the
// slots, the cache's tenants with the next tenant id, the version), named documents (the
// rebalance in progress, rebalancer.h; the block volumes, volume_table.h), and the API's
// access tokens (their secrets' hashes only).
// Each change is saved whole before it is published, so a master that takes over carries
// on from the last map any follower saw.
//
// Leadership: only the leading master changes the map or a document; every master may
// save and delete tokens (records of their own, never in conflict). A store calls its
// Campaigner's functions on the master's executor: `elected` once this master leads (load
// the map then: it is the latest), `deposed` once it stopped leading (it stopped acting
// already: Save refuses), `changed` when another master changed what the store holds.
//
// Thread safety: the master's one thread calls everything but Leading() and leader_url(),
// which any thread may call.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <nlohmann/json_fwd.hpp>

#include "base/result.h"
#include "master/cluster_map.h"
#include "security/access_token.h"

namespace trellis::master {

// The documents a store keeps (LoadDocument), which a migration carries over.
inline constexpr std::string_view kRebalanceDocument = "rebalance";
inline constexpr std::string_view kVolumesDocument = "volumes";
inline constexpr std::string_view kDocuments[] = {kRebalanceDocument, kVolumesDocument};

struct Campaigner {
  boost::asio::any_io_executor executor;  // The master's: where the functions run.
  std::string url;                        // How clients reach this master's API.
  std::function<void()> elected;
  std::function<void()> deposed;
  std::function<void()> changed;
};

class MapStore {
 public:
  virtual ~MapStore() = default;

  // Errors: a slot range naming a group the store does not hold; a store that cannot be
  // reached.
  virtual base::Result<ClusterMap> Load() = 0;
  // Errors: this master does not lead (kConflict), the store cannot be reached.
  virtual base::Status Save(const ClusterMap& map) = 0;
  // A document the leader keeps beside the map, whole (kDocuments); null when none was
  // saved. Errors: as for the map.
  virtual base::Result<nlohmann::json> LoadDocument(std::string_view name) = 0;
  virtual base::Status SaveDocument(std::string_view name, const nlohmann::json& document) = 0;
  virtual base::Result<std::vector<security::TokenRecord>> LoadTokens() = 0;
  // Adds the token, or replaces the one with its id.
  virtual base::Status SaveToken(const security::TokenRecord& token) = 0;
  virtual base::Status DeleteToken(const std::string& id) = 0;

  // Starts taking part in the election (see above). Called once.
  virtual void Campaign(const Campaigner& campaigner) = 0;
  // Gives up leading (a master that cannot take over: the store failed it); another may
  // lead from now on. A store with one master keeps leading.
  virtual void Resign() = 0;
  // Whether this master leads now: false from the moment its leadership may have run out.
  virtual bool Leading() const = 0;
  // The leading master's URL as it announced it; "" when none leads or the store has
  // only one master.
  virtual std::string leader_url() const = 0;
};

}  // namespace trellis::master
