#include "master/store_migration.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "master/sqlite_map_store.h"

namespace trellis::master {

base::Result<uint64_t> MigrateStore(const std::string& from_dir, const EtcdStoreOptions& to) {
  std::error_code error;
  if (!std::filesystem::exists(std::filesystem::path(from_dir) / "master.db", error)) {
    return base::NotFound("--from " + from_dir + ": no master.db there");
  }
  TRELLIS_TRY(std::unique_ptr<SqliteMapStore> from, SqliteMapStore::Open(from_dir));
  TRELLIS_TRY(const ClusterMap map, from->Load());
  TRELLIS_TRY(const nlohmann::json rebalance, from->LoadRebalance());
  TRELLIS_TRY(const std::vector<security::TokenRecord> tokens, from->LoadTokens());
  TRELLIS_TRY(std::unique_ptr<EtcdMapStore> into, EtcdMapStore::Open(to));
  TRELLIS_TRY_STATUS(into->Import(map, rebalance, tokens));
  return map.version();
}

}  // namespace trellis::master
