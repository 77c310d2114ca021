#include "master/sqlite_map_store.h"

#include <sqlite3.h>

#include <filesystem>
#include <functional>
#include <map>

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

namespace trellis::master {

namespace asio = boost::asio;

namespace {

// A prepared statement, finalized when it goes out of scope.
struct Statement {
  sqlite3_stmt* stmt = nullptr;
  ~Statement() { sqlite3_finalize(stmt); }
};

}  // namespace

base::Result<std::unique_ptr<SqliteMapStore>> SqliteMapStore::Open(const std::string& dir) {
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
  std::unique_ptr<SqliteMapStore> store(new SqliteMapStore(db));
  if (base::Status made_schema = store->Execute(
          "PRAGMA journal_mode=WAL;"
          "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
          "CREATE TABLE IF NOT EXISTS groups (position INTEGER PRIMARY KEY, name TEXT UNIQUE "
          "NOT NULL, epoch INTEGER NOT NULL, sync INTEGER NOT NULL);"
          "CREATE TABLE IF NOT EXISTS nodes (address TEXT PRIMARY KEY, grp TEXT NOT NULL, "
          "role TEXT NOT NULL);"
          "CREATE TABLE IF NOT EXISTS slots (first INTEGER PRIMARY KEY, last INTEGER NOT NULL, "
          "grp TEXT NOT NULL, since INTEGER NOT NULL, target TEXT, phase TEXT);"
          "CREATE TABLE IF NOT EXISTS documents (name TEXT PRIMARY KEY, state TEXT NOT NULL);"
          "CREATE TABLE IF NOT EXISTS tokens (id TEXT PRIMARY KEY, name TEXT NOT NULL, "
          "scope TEXT NOT NULL, secret_sha256 TEXT NOT NULL, created INTEGER NOT NULL);"
          "CREATE TABLE IF NOT EXISTS tenants (name TEXT PRIMARY KEY, id INTEGER UNIQUE NOT "
          "NULL, generation INTEGER NOT NULL, memory_bytes INTEGER NOT NULL, ops_per_second "
          "INTEGER NOT NULL, password_sha256 TEXT NOT NULL);");
      !made_schema) {
    return base::Error{path + ": " + made_schema.error().message};
  }
  // A file from before documents kept the rebalance in a table of its own.
  if (base::Status moved = store->Execute(
          "BEGIN; CREATE TABLE IF NOT EXISTS rebalance (id INTEGER PRIMARY KEY, state TEXT);"
          "INSERT OR IGNORE INTO documents SELECT 'rebalance', state FROM rebalance;"
          "DROP TABLE rebalance; COMMIT;");
      !moved) {
    (void)store->Execute("ROLLBACK");
    return base::Error{path + ": " + moved.error().message};
  }
  return store;
}

SqliteMapStore::~SqliteMapStore() { sqlite3_close(db_); }

base::Status SqliteMapStore::Execute(const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string message = error != nullptr ? error : "sqlite error";
    sqlite3_free(error);
    return base::Error{message};
  }
  return {};
}

base::Result<ClusterMap> SqliteMapStore::Load() {
  uint64_t version = 0;
  uint64_t next_tenant_id = 0;
  std::vector<GroupInfo> groups;
  std::vector<NodeInfo> nodes;
  std::vector<TenantState> tenants;
  {
    Statement query;
    sqlite3_prepare_v2(db_, "SELECT key, value FROM meta", -1, &query.stmt, nullptr);
    while (query.stmt != nullptr && sqlite3_step(query.stmt) == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(query.stmt, 0);
      const std::string_view key = text != nullptr ? reinterpret_cast<const char*>(text) : "";
      const auto value = static_cast<uint64_t>(sqlite3_column_int64(query.stmt, 1));
      if (key == "version") {
        version = value;
      } else if (key == "next_tenant_id") {
        next_tenant_id = value;
      }
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
  std::vector<SlotRange> slots;
  {
    Statement query;
    sqlite3_prepare_v2(db_,
                       "SELECT first, last, grp, since, target, phase FROM slots ORDER BY first",
                       -1, &query.stmt, nullptr);
    while (query.stmt != nullptr && sqlite3_step(query.stmt) == SQLITE_ROW) {
      SlotRange& range = slots.emplace_back();
      range.first = static_cast<uint32_t>(sqlite3_column_int64(query.stmt, 0));
      range.last = static_cast<uint32_t>(sqlite3_column_int64(query.stmt, 1));
      range.group = reinterpret_cast<const char*>(sqlite3_column_text(query.stmt, 2));
      range.since = static_cast<uint64_t>(sqlite3_column_int64(query.stmt, 3));
      if (const unsigned char* target = sqlite3_column_text(query.stmt, 4)) {
        range.target = reinterpret_cast<const char*>(target);
        const unsigned char* phase = sqlite3_column_text(query.stmt, 5);
        TRELLIS_TRY(range.phase,
                    ParseMovePhase(phase != nullptr ? reinterpret_cast<const char*>(phase) : ""));
      }
    }
  }
  {
    Statement query;
    sqlite3_prepare_v2(db_,
                       "SELECT name, id, generation, memory_bytes, ops_per_second, "
                       "password_sha256 FROM tenants ORDER BY name",
                       -1, &query.stmt, nullptr);
    while (query.stmt != nullptr && sqlite3_step(query.stmt) == SQLITE_ROW) {
      TenantState& tenant = tenants.emplace_back();
      tenant.name = reinterpret_cast<const char*>(sqlite3_column_text(query.stmt, 0));
      tenant.id = static_cast<uint64_t>(sqlite3_column_int64(query.stmt, 1));
      tenant.generation = static_cast<uint64_t>(sqlite3_column_int64(query.stmt, 2));
      tenant.memory_bytes = static_cast<uint64_t>(sqlite3_column_int64(query.stmt, 3));
      tenant.ops_per_second = static_cast<uint64_t>(sqlite3_column_int64(query.stmt, 4));
      tenant.password_sha256 = reinterpret_cast<const char*>(sqlite3_column_text(query.stmt, 5));
    }
  }
  const bool upgrade = slots.empty() && !groups.empty();
  auto restored = ClusterMap::Restore(version, std::move(groups), std::move(nodes), slots,
                                      std::move(tenants), next_tenant_id);
  if (!restored) {
    return base::Error{"the saved map's slots: " + restored.error().message};
  }
  ClusterMap map = std::move(*restored);
  if (upgrade) {
    TRELLIS_TRY_STATUS(Save(map));
  }
  return map;
}

base::Status SqliteMapStore::Save(const ClusterMap& map) {
  if (base::Status begun = Execute("BEGIN IMMEDIATE"); !begun) {
    return begun;
  }
  bool ok =
      Execute("DELETE FROM groups; DELETE FROM nodes; DELETE FROM slots; DELETE FROM tenants;")
          .ok();
  // Each statement prepared once and run once per row: a map in the middle of a move has
  // thousands of slot ranges (6,845 after 3 -> 4 groups).
  std::map<const char*, Statement> prepared;
  auto run = [&](const char* sql, const std::function<void(sqlite3_stmt*)>& bind) {
    Statement& insert = prepared[sql];
    if (insert.stmt == nullptr) {
      ok = ok && sqlite3_prepare_v2(db_, sql, -1, &insert.stmt, nullptr) == SQLITE_OK;
    } else {
      sqlite3_reset(insert.stmt);
      sqlite3_clear_bindings(insert.stmt);
    }
    if (ok) {
      bind(insert.stmt);
      ok = sqlite3_step(insert.stmt) == SQLITE_DONE;
    }
  };
  run("INSERT OR REPLACE INTO meta (key, value) VALUES ('version', ?)", [&](sqlite3_stmt* stmt) {
    sqlite3_bind_int64(stmt, 1, static_cast<sqlite3_int64>(map.version()));
  });
  run("INSERT OR REPLACE INTO meta (key, value) VALUES ('next_tenant_id', ?)",
      [&](sqlite3_stmt* stmt) {
        sqlite3_bind_int64(stmt, 1, static_cast<sqlite3_int64>(map.next_tenant_id()));
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
    run("INSERT INTO slots (first, last, grp, since, target, phase) VALUES (?, ?, ?, ?, ?, ?)",
        [&](sqlite3_stmt* stmt) {
          sqlite3_bind_int64(stmt, 1, range.first);
          sqlite3_bind_int64(stmt, 2, range.last);
          sqlite3_bind_text(stmt, 3, range.group.c_str(), -1, SQLITE_TRANSIENT);
          sqlite3_bind_int64(stmt, 4, static_cast<sqlite3_int64>(range.since));
          if (range.target) {
            const std::string_view phase = MovePhaseName(range.phase);
            sqlite3_bind_text(stmt, 5, range.target->c_str(), -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(stmt, 6, phase.data(), static_cast<int>(phase.size()),
                              SQLITE_TRANSIENT);
          }
        });
  }
  for (const TenantState& tenant : map.tenants()) {
    run("INSERT INTO tenants (name, id, generation, memory_bytes, ops_per_second, "
        "password_sha256) VALUES (?, ?, ?, ?, ?, ?)",
        [&](sqlite3_stmt* stmt) {
          sqlite3_bind_text(stmt, 1, tenant.name.c_str(), -1, SQLITE_TRANSIENT);
          sqlite3_bind_int64(stmt, 2, static_cast<sqlite3_int64>(tenant.id));
          sqlite3_bind_int64(stmt, 3, static_cast<sqlite3_int64>(tenant.generation));
          sqlite3_bind_int64(stmt, 4, static_cast<sqlite3_int64>(tenant.memory_bytes));
          sqlite3_bind_int64(stmt, 5, static_cast<sqlite3_int64>(tenant.ops_per_second));
          sqlite3_bind_text(stmt, 6, tenant.password_sha256.c_str(), -1, SQLITE_TRANSIENT);
        });
  }
  if (!ok) {
    const std::string error = sqlite3_errmsg(db_);
    (void)Execute("ROLLBACK");
    return base::Error{"saving the cluster map: " + error};
  }
  return Execute("COMMIT");
}

base::Result<nlohmann::json> SqliteMapStore::LoadDocument(std::string_view name) {
  Statement query;
  sqlite3_prepare_v2(db_, "SELECT state FROM documents WHERE name = ?", -1, &query.stmt, nullptr);
  if (query.stmt == nullptr) {
    return base::Error{sqlite3_errmsg(db_)};
  }
  sqlite3_bind_text(query.stmt, 1, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
  if (sqlite3_step(query.stmt) != SQLITE_ROW) {
    return nlohmann::json();
  }
  const char* text = reinterpret_cast<const char*>(sqlite3_column_text(query.stmt, 0));
  nlohmann::json state = nlohmann::json::parse(text != nullptr ? text : "", nullptr, false);
  if (state.is_discarded()) {
    return base::Error{"the saved " + std::string(name) + " is not JSON"};
  }
  return state;
}

base::Status SqliteMapStore::SaveDocument(std::string_view name, const nlohmann::json& document) {
  Statement insert;
  if (sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO documents (name, state) VALUES (?, ?)", -1,
                         &insert.stmt, nullptr) != SQLITE_OK) {
    return base::Error{sqlite3_errmsg(db_)};
  }
  const std::string text = document.dump();
  sqlite3_bind_text(insert.stmt, 1, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
  sqlite3_bind_text(insert.stmt, 2, text.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(insert.stmt) != SQLITE_DONE) {
    return base::Error{sqlite3_errmsg(db_)};
  }
  return {};
}

base::Result<std::vector<security::TokenRecord>> SqliteMapStore::LoadTokens() {
  Statement query;
  if (sqlite3_prepare_v2(db_, "SELECT id, name, scope, secret_sha256, created FROM tokens", -1,
                         &query.stmt, nullptr) != SQLITE_OK) {
    return base::Error{sqlite3_errmsg(db_)};
  }
  std::vector<security::TokenRecord> tokens;
  while (sqlite3_step(query.stmt) == SQLITE_ROW) {
    const auto text = [&](int column) {
      const unsigned char* value = sqlite3_column_text(query.stmt, column);
      return std::string(value != nullptr ? reinterpret_cast<const char*>(value) : "");
    };
    TRELLIS_TRY(const http::Scope scope, http::ParseScope(text(2)));
    tokens.push_back({text(0), text(1), scope, text(3), sqlite3_column_int64(query.stmt, 4)});
  }
  return tokens;
}

base::Status SqliteMapStore::SaveToken(const security::TokenRecord& token) {
  Statement insert;
  if (sqlite3_prepare_v2(db_,
                         "INSERT OR REPLACE INTO tokens (id, name, scope, secret_sha256, "
                         "created) VALUES (?, ?, ?, ?, ?)",
                         -1, &insert.stmt, nullptr) != SQLITE_OK) {
    return base::Error{sqlite3_errmsg(db_)};
  }
  const std::string_view scope = http::ScopeName(token.scope);
  sqlite3_bind_text(insert.stmt, 1, token.id.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(insert.stmt, 2, token.name.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(insert.stmt, 3, scope.data(), static_cast<int>(scope.size()), SQLITE_TRANSIENT);
  sqlite3_bind_text(insert.stmt, 4, token.secret_sha256.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(insert.stmt, 5, token.created_unix);
  if (sqlite3_step(insert.stmt) != SQLITE_DONE) {
    return base::Error{sqlite3_errmsg(db_)};
  }
  return {};
}

base::Status SqliteMapStore::DeleteToken(const std::string& id) {
  Statement remove;
  if (sqlite3_prepare_v2(db_, "DELETE FROM tokens WHERE id = ?", -1, &remove.stmt, nullptr) !=
      SQLITE_OK) {
    return base::Error{sqlite3_errmsg(db_)};
  }
  sqlite3_bind_text(remove.stmt, 1, id.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(remove.stmt) != SQLITE_DONE) {
    return base::Error{sqlite3_errmsg(db_)};
  }
  return {};
}

void SqliteMapStore::Campaign(const Campaigner& campaigner) {
  asio::post(campaigner.executor, campaigner.elected);
}

}  // namespace trellis::master
