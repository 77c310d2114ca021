// The master's map in a real etcd (etcd_map_store.h): a map, its tokens and the
// rebalance save and load whole; of two masters exactly one leads, and the other takes
// over when it resigns; a master whose leader key was replaced behind its back (it
// paused past its lease, and another took over) has its next write refused by etcd's
// revision check, loses nothing of the map, and follows; a follower is told of changes.
#include "master/etcd_map_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "etcd/client.h"
#include "http/client.h"
#include "testing/etcd_cluster.h"
#include "testing/loopback_client.h"

namespace trellis::master {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::Eventually;

// The master's side of a campaign: its executor (a thread of its own) and what it was told.
class MasterSide {
 public:
  MasterSide() : thread_([this] { io_.run(); }) {}
  ~MasterSide() {
    work_.reset();
    io_.stop();
    thread_.join();
  }

  Campaigner campaigner(std::string url) {
    return {io_.get_executor(), std::move(url), [this] { ++elected; }, [this] { ++deposed; },
            [this] { ++changed; }};
  }

  std::atomic<int> elected{0};
  std::atomic<int> deposed{0};
  std::atomic<int> changed{0};

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::thread thread_;
};

class EtcdMapStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<EtcdMapStore> Open() {
    EtcdStoreOptions options;
    options.endpoints = etcd_.client_urls();
    options.prefix = "/trellis/test";
    auto store = EtcdMapStore::Open(options);
    EXPECT_TRUE(store.ok()) << store.error().message;
    return std::move(store).value();
  }

  // Commits `txn` with a client of its own, as another master would; whether it held.
  bool Commit(etcd::Txn txn) {
    return http::RunBlocking([&](asio::any_io_executor executor) -> asio::awaitable<bool> {
      auto client = etcd::Client::ForUrls(executor, etcd_.client_urls(), nullptr);
      if (!client) {
        co_return false;
      }
      auto reply = co_await client->Commit(txn, 5s);
      co_return reply.ok() && reply->succeeded;
    });
  }

  testing::EtcdCluster etcd_{1};
};

ClusterMap ExampleMap() {
  ClusterMap map;
  EXPECT_TRUE(map.AddGroup("g1").ok());
  EXPECT_TRUE(map.AddGroup("g2").ok());
  EXPECT_TRUE(map.RegisterNode("g1", "10.0.0.1:11211").ok());
  EXPECT_TRUE(map.RegisterNode("g1", "10.0.0.2:11211").ok());
  EXPECT_TRUE(map.AddTenant({"shop", 1 << 20, 0}, std::string(64, 'a')).ok());
  EXPECT_TRUE(map.RemoveTenant("shop").ok());  // Its id is never given again.
  return map;
}

TEST_F(EtcdMapStoreTest, SavesAndLoadsTheMapItsTokensAndTheRebalance) {
  MasterSide side;
  auto store = Open();
  store->Campaign(side.campaigner("http://127.0.0.1:1"));
  ASSERT_TRUE(Eventually([&] { return side.elected == 1 && store->Leading(); }, 10s));
  const ClusterMap map = ExampleMap();
  ASSERT_TRUE(store->Save(map).ok());
  ASSERT_TRUE(store->SaveDocument("rebalance", {{"moves", 3}}).ok());
  const security::TokenRecord token{"0123456789abcdef", "grafana", http::Scope::kRead,
                                    std::string(64, 'b'), 1700000000};
  ASSERT_TRUE(store->SaveToken(token).ok());

  auto reader = Open();  // Another master: a follower, which never campaigned.
  auto loaded = reader->Load();
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->version(), map.version());
  EXPECT_EQ(loaded->slots(), map.slots());
  ASSERT_EQ(loaded->nodes().size(), 2u);
  EXPECT_EQ(loaded->nodes()[0].role, Role::kMain);
  EXPECT_EQ(loaded->next_tenant_id(), map.next_tenant_id());
  EXPECT_EQ(reader->LoadDocument("rebalance").value(), nlohmann::json({{"moves", 3}}));
  auto tokens = reader->LoadTokens();
  ASSERT_TRUE(tokens.ok());
  ASSERT_EQ(tokens->size(), 1u);
  EXPECT_EQ((*tokens)[0].secret_sha256, token.secret_sha256);
  EXPECT_EQ((*tokens)[0].scope, http::Scope::kRead);
  ASSERT_TRUE(reader->DeleteToken(token.id).ok());  // Any master may.
  EXPECT_TRUE(store->LoadTokens()->empty());
  // A follower may not change the map.
  const base::Status refused = reader->Save(map);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, base::ErrorCode::kConflict);
}

TEST_F(EtcdMapStoreTest, OneOfTwoLeadsAndTheOtherTakesOverWhenItResigns) {
  MasterSide first_side;
  MasterSide second_side;
  auto first = Open();
  auto second = Open();
  first->Campaign(first_side.campaigner("http://127.0.0.1:1"));
  second->Campaign(second_side.campaigner("http://127.0.0.1:2"));
  ASSERT_TRUE(Eventually([&] { return first_side.elected + second_side.elected == 1; }, 10s));
  EXPECT_NE(first->Leading(), second->Leading());
  std::unique_ptr<EtcdMapStore>& leader = first->Leading() ? first : second;
  std::unique_ptr<EtcdMapStore>& follower = first->Leading() ? second : first;
  MasterSide& follower_side = first->Leading() ? second_side : first_side;
  EXPECT_TRUE(Eventually([&] { return follower->leader_url() == leader->leader_url(); }, 5s));
  leader.reset();  // Resigns on the way out.
  ASSERT_TRUE(Eventually([&] { return follower_side.elected == 1 && follower->Leading(); }, 10s));
}

TEST_F(EtcdMapStoreTest, AStaleLeadersWriteIsRefusedByTheRevisionCheck) {
  MasterSide stale_side;
  auto stale = Open();
  stale->Campaign(stale_side.campaigner("http://127.0.0.1:1"));
  ASSERT_TRUE(Eventually([&] { return stale->Leading(); }, 10s));
  const ClusterMap map = ExampleMap();
  ASSERT_TRUE(stale->Save(map).ok());
  // What another master does once the stale one's key is gone: it creates its own. The
  // stale one's lease still runs, so it believes it leads.
  etcd::Txn gone;
  gone.success.push_back(etcd::Operation::Delete("/trellis/test/leader"));
  ASSERT_TRUE(Commit(gone));
  etcd::Txn takeover;
  takeover.compare.push_back(etcd::Compare::CreateRevision("/trellis/test/leader", 0));
  takeover.success.push_back(etcd::Operation::Put("/trellis/test/leader", "http://127.0.0.1:2"));
  ASSERT_TRUE(Commit(takeover));
  ASSERT_TRUE(stale->Leading());

  ClusterMap changed = map;
  ASSERT_TRUE(changed.AddGroup("g3").ok());
  const base::Status refused = stale->Save(changed);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, base::ErrorCode::kConflict) << refused.error().message;
  EXPECT_FALSE(stale->Leading());
  EXPECT_TRUE(Eventually([&] { return stale_side.deposed == 1; }, 5s));
  auto stored = Open()->Load();
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->version(), map.version());
  EXPECT_EQ(stored->FindGroup("g3"), nullptr);
  EXPECT_FALSE(stale->SaveDocument("rebalance", nlohmann::json::object()).ok());
}

TEST_F(EtcdMapStoreTest, AFollowerIsToldOfEveryChange) {
  MasterSide leader_side;
  MasterSide follower_side;
  auto leader = Open();
  leader->Campaign(leader_side.campaigner("http://127.0.0.1:1"));
  ASSERT_TRUE(Eventually([&] { return leader->Leading(); }, 10s));
  auto follower = Open();
  follower->Campaign(follower_side.campaigner("http://127.0.0.1:2"));
  ASSERT_TRUE(Eventually([&] { return follower_side.changed >= 1; }, 5s));  // Its first read.
  ClusterMap map = ExampleMap();
  for (int i = 0; i < 3; ++i) {
    const int before = follower_side.changed;
    ASSERT_TRUE(map.AddGroup("extra" + std::to_string(i)).ok());
    ASSERT_TRUE(leader->Save(map).ok());
    ASSERT_TRUE(Eventually([&] { return follower_side.changed > before; }, 5s));
    EXPECT_EQ(follower->Load()->version(), map.version());
  }
  EXPECT_EQ(follower_side.elected, 0);
}

}  // namespace
}  // namespace trellis::master
