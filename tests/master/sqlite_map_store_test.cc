// The master's map in SQLite: a map saves and loads whole, slots and tenants included, a
// database written before slots were explicit is upgraded in place to the split its
// groups implied (even, in the order they were added), and tenant ids are never reused.
#include "master/sqlite_map_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>

#include <nlohmann/json.hpp>

#include "testing/temp_dir.h"

namespace trellis::master {
namespace {

using namespace std::chrono_literals;

// Runs `sql` on <dir>/master.db; the number of rows a query returned.
int RunSql(const std::string& dir, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open((dir + "/master.db").c_str(), &db), SQLITE_OK);
  int rows = 0;
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(
                db, sql.c_str(),
                [](void* count, int, char**, char**) {
                  ++*static_cast<int*>(count);
                  return 0;
                },
                &rows, &error),
            SQLITE_OK)
      << (error != nullptr ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
  return rows;
}

TEST(SqliteMapStoreTest, DocumentsAreKeptByNameAndAnOldRebalanceTableMovesIntoThem) {
  testing::TempDir dir;
  // A file from before documents: the rebalance in a table of its own.
  RunSql(dir.path().string(),
         "CREATE TABLE rebalance (id INTEGER PRIMARY KEY CHECK (id = 0), state TEXT NOT NULL);"
         "INSERT INTO rebalance VALUES (0, '{\"moves\": 2}');");
  {
    auto store = SqliteMapStore::Open(dir.path().string()).value();
    EXPECT_EQ(store->LoadDocument("rebalance").value(), nlohmann::json({{"moves", 2}}));
    EXPECT_TRUE(store->LoadDocument("volumes").value().is_null());
    ASSERT_TRUE(store->SaveDocument("volumes", {{"next_id", 4}}).ok());
  }
  auto store = SqliteMapStore::Open(dir.path().string()).value();
  EXPECT_EQ(store->LoadDocument("volumes").value(), nlohmann::json({{"next_id", 4}}));
  EXPECT_EQ(store->LoadDocument("rebalance").value(), nlohmann::json({{"moves", 2}}));
  EXPECT_EQ(RunSql(dir.path().string(),
                   "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'rebalance'"),
            0);
}

TEST(SqliteMapStoreTest, SavesAndLoadsTheSlotsOfEachGroup) {
  testing::TempDir dir;
  ClusterMap map;
  ASSERT_TRUE(map.AddGroup("g1").ok());
  ASSERT_TRUE(map.AddGroup("g2").ok());
  (void)map.RegisterNode("g1", "10.0.0.1:1");
  ASSERT_TRUE(map.AddGroup("g3").ok());
  {
    auto store = SqliteMapStore::Open(dir.path().string());
    ASSERT_TRUE(store.ok()) << store.error().message;
    ASSERT_TRUE((*store)->Save(map).ok());
  }
  auto store = SqliteMapStore::Open(dir.path().string());
  ASSERT_TRUE(store.ok());
  auto loaded = (*store)->Load();
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->slots(), map.slots());
  EXPECT_EQ(loaded->ToState(1s).SlotCount("g3"), 0u);
}

TEST(SqliteMapStoreTest, MovingSlotsAreSavedWithTheirStep) {
  testing::TempDir dir;
  ClusterMap map;
  ASSERT_TRUE(map.AddGroup("g1").ok());
  (void)map.RegisterNode("g1", "10.0.0.1:1");
  ASSERT_TRUE(map.AddGroup("g2").ok());
  ASSERT_TRUE(map.BeginMove({5, 6, 7}, "g2").ok());
  map.AdvanceMove({5, 6});
  ASSERT_TRUE(map.BeginMove({100}, "g2").ok());
  ASSERT_TRUE((*SqliteMapStore::Open(dir.path().string()))->Save(map).ok());
  auto loaded = (*SqliteMapStore::Open(dir.path().string()))->Load();
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->slots(), map.slots());
  EXPECT_EQ(loaded->slots()[5].phase, MovePhase::kDual);
  EXPECT_EQ(loaded->slots()[7].phase, MovePhase::kPrepare);
}

TEST(SqliteMapStoreTest, AMapSavedBeforeSlotsWereExplicitIsUpgradedInPlace) {
  testing::TempDir dir;
  // The schema and rows an earlier master wrote: groups in order, no slots table.
  RunSql(dir.path().string(),
         "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
         "CREATE TABLE groups (position INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, "
         "epoch INTEGER NOT NULL, sync INTEGER NOT NULL);"
         "CREATE TABLE nodes (address TEXT PRIMARY KEY, grp TEXT NOT NULL, role TEXT NOT NULL);"
         "INSERT INTO meta VALUES ('version', 7);"
         "INSERT INTO groups VALUES (0, 'a', 2, 1), (1, 'b', 1, 0), (2, 'c', 1, 0);"
         "INSERT INTO nodes VALUES ('10.0.0.1:1', 'a', 'main'), ('10.0.0.2:1', 'b', 'main');");
  auto store = SqliteMapStore::Open(dir.path().string());
  ASSERT_TRUE(store.ok()) << store.error().message;
  auto loaded = (*store)->Load();
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const std::vector<SlotRange> ranges = loaded->SlotRanges();
  ASSERT_EQ(ranges.size(), 3u);
  // What the old map implied: slot * groups / 16384.
  for (size_t i = 0; i < ranges.size(); ++i) {
    EXPECT_EQ(ranges[i].group, std::string(1, static_cast<char>('a' + i)));
    EXPECT_EQ(ranges[i].first, (i * ClusterState::kSlots + 2) / 3);
  }
  EXPECT_EQ(loaded->version(), 7u);
  EXPECT_EQ(loaded->FindGroup("a")->epoch, 2u);
  EXPECT_EQ(RunSql(dir.path().string(), "SELECT * FROM slots"), 3) << "written back at once";
}

const std::string kHash(64, 'e');

TEST(SqliteMapStoreTest, SavesAndLoadsTheTenants) {
  testing::TempDir dir;
  ClusterMap map;
  ASSERT_TRUE(map.AddGroup("g1").ok());
  ASSERT_TRUE(map.AddTenant({"shop", 1 << 30, 50000}, kHash).ok());
  ASSERT_TRUE(map.AddTenant({"analytics", 0, 0}, std::string(64, 'f')).ok());
  ASSERT_TRUE(map.FlushTenant("shop").ok());
  ASSERT_TRUE((*SqliteMapStore::Open(dir.path().string()))->Save(map).ok());
  auto loaded = (*SqliteMapStore::Open(dir.path().string()))->Load();
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->version(), map.version());
  ASSERT_EQ(loaded->tenants().size(), 2u);
  EXPECT_EQ(ToJson(loaded->ToState(1s)), ToJson(map.ToState(1s)));
  const TenantState* shop = loaded->FindTenant("shop");
  ASSERT_NE(shop, nullptr);
  EXPECT_EQ(shop->id, 1u);
  EXPECT_EQ(shop->generation, 1u);
  EXPECT_EQ(shop->memory_bytes, 1u << 30);
  EXPECT_EQ(shop->ops_per_second, 50000u);
  EXPECT_EQ(shop->password_sha256, kHash);
  EXPECT_EQ(loaded->FindTenant("analytics")->id, 2u);
}

TEST(SqliteMapStoreTest, TenantIdsAreNotReusedAfterADeleteAndARestart) {
  testing::TempDir dir;
  {
    ClusterMap map;
    ASSERT_TRUE(map.AddTenant({"a", 0, 0}, kHash).ok());
    ASSERT_TRUE(map.AddTenant({"b", 0, 0}, kHash).ok());
    ASSERT_TRUE(map.RemoveTenant("b").ok());
    ASSERT_TRUE((*SqliteMapStore::Open(dir.path().string()))->Save(map).ok());
  }
  auto loaded = (*SqliteMapStore::Open(dir.path().string()))->Load();
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->next_tenant_id(), 3u);
  auto again = loaded->AddTenant({"b", 0, 0}, kHash);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->id, 3u) << "b's old items (prefix 2.0:) stay out of reach";
}

TEST(SqliteMapStoreTest, AStoreWithoutTheNextTenantIdGivesIdsAboveEveryTenants) {
  testing::TempDir dir;
  {
    ClusterMap map;
    ASSERT_TRUE(map.AddTenant({"a", 0, 0}, kHash).ok());
    ASSERT_TRUE((*SqliteMapStore::Open(dir.path().string()))->Save(map).ok());
  }
  RunSql(dir.path().string(),
         "DELETE FROM meta WHERE key = 'next_tenant_id'; UPDATE tenants SET id = 7");
  auto loaded = (*SqliteMapStore::Open(dir.path().string()))->Load();
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->next_tenant_id(), 8u);
}

TEST(SqliteMapStoreTest, ASlotRangeNamingAnUnknownGroupIsAnError) {
  testing::TempDir dir;
  {
    ClusterMap map;
    ASSERT_TRUE(map.AddGroup("g1").ok());
    ASSERT_TRUE((*SqliteMapStore::Open(dir.path().string()))->Save(map).ok());
  }
  RunSql(dir.path().string(), "UPDATE slots SET grp = 'gone'");
  auto loaded = (*SqliteMapStore::Open(dir.path().string()))->Load();
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().message.find("group gone"), std::string::npos) << loaded.error().message;
}

}  // namespace
}  // namespace trellis::master
