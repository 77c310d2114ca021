// MapStore: the master's cluster map on disk, in SQLite (<data>/master.db): groups,
// nodes and roles, epochs, which group serves each slot (as ranges), the cache's tenants
// (their passwords' hashes only) with the next tenant id, and the version; and the
// rebalance in progress; and the API's access tokens (their secrets' hashes only,
// security/access_token.h).
// Each change is saved whole in one transaction before it is published, so a restarted
// master carries on from the last map any follower saw. A database written before slots
// were explicit (no rows in `slots`) is upgraded in place as it is loaded, to the split
// its groups implied (cluster_map.h).
//
// Thread safety: none; the master's one thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/result.h"
#include "master/cluster_map.h"
#include "security/access_token.h"

struct sqlite3;

namespace trellis::master {

class MapStore {
 public:
  // Opens (creating if needed) <dir>/master.db.
  static base::Result<std::unique_ptr<MapStore>> Open(const std::string& dir);
  ~MapStore();

  // Errors: a slot range naming a group the database does not hold.
  base::Result<ClusterMap> Load();
  base::Status Save(const ClusterMap& map);
  // The rebalance in progress (rebalancer.h), as its own record; null when none was saved.
  base::Result<nlohmann::json> LoadRebalance();
  base::Status SaveRebalance(const nlohmann::json& rebalance);
  base::Result<std::vector<security::TokenRecord>> LoadTokens();
  // Adds the token, or replaces the one with its id.
  base::Status SaveToken(const security::TokenRecord& token);
  base::Status DeleteToken(const std::string& id);

 private:
  explicit MapStore(sqlite3* db) : db_(db) {}
  base::Status Execute(const std::string& sql);

  sqlite3* db_;
};

}  // namespace trellis::master
