// SqliteMapStore: the master's cluster map on disk, in SQLite (<data>/master.db), the
// embedded default for a cluster with one master, which always leads: groups, nodes and
// roles, epochs, which group serves each slot (as ranges), the cache's tenants
// (their passwords' hashes only) with the next tenant id, and the version; and the
// documents (map_store.h), one row each; and the API's access tokens (their secrets' hashes only,
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
#include "master/map_store.h"

struct sqlite3;

namespace trellis::master {

class SqliteMapStore final : public MapStore {
 public:
  // Opens (creating if needed) <dir>/master.db.
  static base::Result<std::unique_ptr<SqliteMapStore>> Open(const std::string& dir);
  ~SqliteMapStore() override;

  // Errors: a slot range naming a group the database does not hold.
  base::Result<ClusterMap> Load() override;
  base::Status Save(const ClusterMap& map) override;
  base::Result<nlohmann::json> LoadDocument(std::string_view name) override;
  base::Status SaveDocument(std::string_view name, const nlohmann::json& document) override;
  base::Result<std::vector<security::TokenRecord>> LoadTokens() override;
  // Adds the token, or replaces the one with its id.
  base::Status SaveToken(const security::TokenRecord& token) override;
  base::Status DeleteToken(const std::string& id) override;
  // The one master leads at once.
  void Campaign(const Campaigner& campaigner) override;
  void Resign() override {}
  bool Leading() const override { return true; }
  std::string leader_url() const override { return ""; }

 private:
  explicit SqliteMapStore(sqlite3* db) : db_(db) {}
  base::Status Execute(const std::string& sql);

  sqlite3* db_;
};

}  // namespace trellis::master
