#include "master/store_migration.h"

#include <filesystem>
#include <map>
#include <string>

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
  std::map<std::string, nlohmann::json> documents;
  for (const std::string_view name : kDocuments) {
    TRELLIS_TRY(nlohmann::json document, from->LoadDocument(name));
    if (!document.is_null()) {
      documents.emplace(name, std::move(document));
    }
  }
  TRELLIS_TRY(const std::vector<security::TokenRecord> tokens, from->LoadTokens());
  TRELLIS_TRY(std::unique_ptr<EtcdMapStore> into, EtcdMapStore::Open(to));
  TRELLIS_TRY_STATUS(into->Import(map, documents, tokens));
  return map.version();
}

}  // namespace trellis::master
