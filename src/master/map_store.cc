#include "master/map_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <functional>

namespace trellis::master {

namespace {

// A prepared statement, finalized when it goes out of scope.
struct Statement {
  sqlite3_stmt* stmt = nullptr;
  ~Statement() { sqlite3_finalize(stmt); }
};

}  // namespace

base::Result<std::unique_ptr<MapStore>> MapStore::Open(const std::string& dir) {
  std::error_code made;
  std::filesystem::create_directories(dir, made);
  if (made) {
    return base::Error{dir + ": " + made.message()};
  }
  const std::string path = dir + "/master.db";
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    const std::string error = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return base::Error{path + ": " + error};
  }
  std::unique_ptr<MapStore> store(new MapStore(db));
  if (base::Status made_schema = store->Execute(
          "PRAGMA journal_mode=WAL;"
          "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
          "CREATE TABLE IF NOT EXISTS groups (position INTEGER PRIMARY KEY, name TEXT UNIQUE "
          "NOT NULL, epoch INTEGER NOT NULL, sync INTEGER NOT NULL);"
          "CREATE TABLE IF NOT EXISTS nodes (address TEXT PRIMARY KEY, grp TEXT NOT NULL, "
          "role TEXT NOT NULL);"
          "CREATE TABLE IF NOT EXISTS slots (first INTEGER PRIMARY KEY, last INTEGER NOT NULL, "
          "grp TEXT NOT NULL);");
      !made_schema) {
    return base::Error{path + ": " + made_schema.error().message};
  }
  return store;
}

MapStore::~MapStore() { sqlite3_close(db_); }

base::Status MapStore::Execute(const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string message = error != nullptr ? error : "sqlite error";
    sqlite3_free(error);
    return base::Error{message};
  }
  return {};
}

base::Result<ClusterMap> MapStore::Load() {
  uint64_t version = 0;
  std::vector<GroupInfo> groups;
  std::vector<NodeInfo> nodes;
  {
    Statement query;
    sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE key = 'version'", -1, &query.stmt,
                       nullptr);
    if (query.stmt != nullptr && sqlite3_step(query.stmt) == SQLITE_ROW) {
      version = static_cast<uint64_t>(sqlite3_column_int64(query.stmt, 0));
    }
  }
  {
    Statement query;
    sqlite3_prepare_v2(db_, "SELECT name, epoch, sync FROM groups ORDER BY position", -1,
                       &query.stmt, nullptr);
    while (query.stmt != nullptr && sqlite3_step(query.stmt) == SQLITE_ROW) {
      groups.push_back({reinterpret_cast<const char*>(sqlite3_column_text(query.stmt, 0)),
                        static_cast<uint64_t>(sqlite3_column_int64(query.stmt, 1)),
                        sqlite3_column_int(query.stmt, 2) != 0, false});
    }
  }
  {
    Statement query;
    sqlite3_prepare_v2(db_, "SELECT address, grp, role FROM nodes ORDER BY rowid", -1, &query.stmt,
                       nullptr);
    while (query.stmt != nullptr && sqlite3_step(query.stmt) == SQLITE_ROW) {
      NodeInfo node;
      node.address = reinterpret_cast<const char*>(sqlite3_column_text(query.stmt, 0));
      node.group = reinterpret_cast<const char*>(sqlite3_column_text(query.stmt, 1));
      node.role =
          std::string(reinterpret_cast<const char*>(sqlite3_column_text(query.stmt, 2))) == "main"
              ? Role::kMain
              : Role::kBackup;
      nodes.push_back(std::move(node));
    }
  }
  std::vector<uint16_t> slot_groups;
  {
    Statement query;
    sqlite3_prepare_v2(db_, "SELECT first, last, grp FROM slots ORDER BY first", -1, &query.stmt,
                       nullptr);
    while (query.stmt != nullptr && sqlite3_step(query.stmt) == SQLITE_ROW) {
      const auto first = static_cast<size_t>(sqlite3_column_int64(query.stmt, 0));
      const auto last = static_cast<size_t>(sqlite3_column_int64(query.stmt, 1));
      const std::string group = reinterpret_cast<const char*>(sqlite3_column_text(query.stmt, 2));
      const auto owner = std::find_if(groups.begin(), groups.end(),
                                      [&](const GroupInfo& info) { return info.name == group; });
      if (first != slot_groups.size() || last < first || last >= ClusterState::kSlots ||
          owner == groups.end()) {
        return base::Error{"the saved map's slot range " + std::to_string(first) + "-" +
                           std::to_string(last) + " of group " + group + " does not fit it"};
      }
      slot_groups.insert(slot_groups.end(), last - first + 1,
                         static_cast<uint16_t>(owner - groups.begin()));
    }
  }
  const bool upgrade = slot_groups.empty() && !groups.empty();
  ClusterMap map =
      ClusterMap::Restore(version, std::move(groups), std::move(nodes), std::move(slot_groups));
  if (upgrade) {
    TRELLIS_TRY_STATUS(Save(map));
  }
  return map;
}

base::Status MapStore::Save(const ClusterMap& map) {
  if (base::Status begun = Execute("BEGIN IMMEDIATE"); !begun) {
    return begun;
  }
  bool ok = Execute("DELETE FROM groups; DELETE FROM nodes; DELETE FROM slots;").ok();
  auto run = [&](const char* sql, const std::function<void(sqlite3_stmt*)>& bind) {
    Statement insert;
    ok = ok && sqlite3_prepare_v2(db_, sql, -1, &insert.stmt, nullptr) == SQLITE_OK;
    if (ok) {
      bind(insert.stmt);
      ok = sqlite3_step(insert.stmt) == SQLITE_DONE;
    }
  };
  run("INSERT OR REPLACE INTO meta (key, value) VALUES ('version', ?)", [&](sqlite3_stmt* stmt) {
    sqlite3_bind_int64(stmt, 1, static_cast<sqlite3_int64>(map.version()));
  });
  for (size_t i = 0; i < map.groups().size(); ++i) {
    const GroupInfo& group = map.groups()[i];
    run("INSERT INTO groups (position, name, epoch, sync) VALUES (?, ?, ?, ?)",
        [&](sqlite3_stmt* stmt) {
          sqlite3_bind_int64(stmt, 1, static_cast<sqlite3_int64>(i));
          sqlite3_bind_text(stmt, 2, group.name.c_str(), -1, SQLITE_TRANSIENT);
          sqlite3_bind_int64(stmt, 3, static_cast<sqlite3_int64>(group.epoch));
          sqlite3_bind_int(stmt, 4, group.sync ? 1 : 0);
        });
  }
  for (const NodeInfo& node : map.nodes()) {
    run("INSERT INTO nodes (address, grp, role) VALUES (?, ?, ?)", [&](sqlite3_stmt* stmt) {
      sqlite3_bind_text(stmt, 1, node.address.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(stmt, 2, node.group.c_str(), -1, SQLITE_TRANSIENT);
      const std::string_view role = RoleName(node.role);
      sqlite3_bind_text(stmt, 3, role.data(), static_cast<int>(role.size()), SQLITE_TRANSIENT);
    });
  }
  for (const SlotRange& range : map.SlotRanges()) {
    run("INSERT INTO slots (first, last, grp) VALUES (?, ?, ?)", [&](sqlite3_stmt* stmt) {
      sqlite3_bind_int64(stmt, 1, range.first);
      sqlite3_bind_int64(stmt, 2, range.last);
      sqlite3_bind_text(stmt, 3, range.group.c_str(), -1, SQLITE_TRANSIENT);
    });
  }
  if (!ok) {
    const std::string error = sqlite3_errmsg(db_);
    (void)Execute("ROLLBACK");
    return base::Error{"saving the cluster map: " + error};
  }
  return Execute("COMMIT");
}

}  // namespace trellis::master
