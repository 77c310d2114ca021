// Followers fed malformed cluster maps: a scripted master (an HTTP server in the test,
// since the real master cannot be made to send bad maps) answers a real access node and
// a real cache node with maps of the wrong types, with missing fields, and with fields
// from a future version. Each node logs what was wrong, keeps its last good map and
// keeps serving; a field it does not know is ignored, not an error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "base/metrics.h"
#include "http/router.h"
#include "http/server.h"
#include "net/shard_pool.h"
#include "testing/daemon_process.h"
#include "testing/loopback_client.h"

namespace trellis {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using boost::beast::http::verb;
using nlohmann::json;
using testing::DaemonProcess;
using testing::Eventually;
using testing::HttpGet;
using testing::LoopbackClient;

// A master that answers GET /v1/cluster with whatever map the test set last, and
// registrations with "main".
class ScriptedMaster {
 public:
  ScriptedMaster() {
    auto router = std::make_shared<http::Router>();
    router->Add(verb::get, "/v1/cluster", http::Scope::kRead,
                [this](const http::Request&) -> asio::awaitable<http::Response> {
                  std::lock_guard lock(mu_);
                  ++answers_;
                  co_return http::Response::Text(map_, "application/json");
                });
    router->Add(verb::post, "/v1/nodes", http::Scope::kOperate,
                [](const http::Request&) -> asio::awaitable<http::Response> {
                  co_return http::Response::Json(
                      {{"role", "main"}, {"main", nullptr}, {"epoch", 1}, {"version", 1}});
                });
    http::ServerOptions options;
    options.name = "scripted";
    options.listen = asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0);
    server_ = std::move(http::Server::Start(pool_, options, router, metrics_)).value();
    pool_.Start();
  }
  ~ScriptedMaster() {
    server_->Drain(0ms);
    pool_.Stop();
  }

  // Answers `map` from now on.
  void Set(const std::string& map) {
    std::lock_guard lock(mu_);
    map_ = map;
  }
  // Answers `map` from now on; returns once it has been answered twice (so a follower
  // that long-polls has certainly seen it).
  void Serve(const std::string& map) {
    uint64_t start;
    {
      std::lock_guard lock(mu_);
      map_ = map;
      start = answers_;
    }
    EXPECT_TRUE(Eventually(
        [&] {
          std::lock_guard lock(mu_);
          return answers_ >= start + 2;
        },
        10s));
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(server_->local_endpoint().port());
  }

 private:
  base::Registry metrics_;
  net::ShardPool pool_{1};
  std::unique_ptr<http::Server> server_;
  std::mutex mu_;
  std::string map_;       // Guarded by mu_.
  uint64_t answers_ = 0;  // Guarded by mu_.
};

// A good map of version `version`: group g1 whose main is `main`.
json GoodMap(uint64_t version, const std::string& main) {
  return {{"version", version},
          {"slots", 16384},
          {"lease_ms", 60000},
          {"groups",
           {{{"name", "g1"},
             {"epoch", 1},
             {"mode", "async"},
             {"frozen", false},
             {"main", main},
             {"nodes",
              {{{"address", main},
                {"role", "main"},
                {"healthy", true},
                {"sequence", 0},
                {"pid", 0},
                {"lag", 0},
                {"lag_ms", 0},
                {"items", 0u},
                {"bytes", 0u}}}}}}},
          {"slot_ranges", {{{"first", 0}, {"last", 16383}, {"group", "g1"}, {"since", 0}}}},
          {"move_rate", 0u}};
}

// Maps that must be refused, each with a higher version than any good one.
std::vector<std::string> BadMaps(const std::string& main) {
  std::vector<std::string> bad;
  json wrong_type = GoodMap(100, main);
  wrong_type["groups"][0]["epoch"] = "one";
  bad.push_back(wrong_type.dump());
  json wrong_role = GoodMap(101, main);
  wrong_role["groups"][0]["nodes"][0]["role"] = 7;
  bad.push_back(wrong_role.dump());
  json missing = GoodMap(102, main);
  missing.erase("groups");
  bad.push_back(missing.dump());
  json not_array = GoodMap(103, main);
  not_array["groups"] = "g1";
  bad.push_back(not_array.dump());
  json unknown_owner = GoodMap(104, main);
  unknown_owner["slot_ranges"][0]["group"] = "g9";
  bad.push_back(unknown_owner.dump());
  bad.push_back("[1, 2, 3]");
  bad.push_back("{\"version\": ");
  bad.push_back("not json at all");
  return bad;
}

int64_t RouteTableVersion(uint16_t admin) {
  return json::parse(HttpGet(admin, "/v1/status").body)["route_table"]["version"];
}

bool SetAndGet(LoopbackClient& client, const std::string& key) {
  client.Send("set " + key + " 0 0 1\r\nv\r\nget " + key + "\r\n");
  return client.ReadUntil("END\r\n") == "STORED\r\nVALUE " + key + " 0 1\r\nv\r\nEND\r\n";
}

TEST(MalformedMapTest, AccessNodeKeepsItsLastGoodMapAndKeepsServing) {
  DaemonProcess cache({"cache", "--listen", "127.0.0.1:0", "--threads", "1"});
  const std::string main = "127.0.0.1:" + std::to_string(cache.WaitForListening("cache"));
  ScriptedMaster master;
  master.Set(GoodMap(5, main).dump());
  DaemonProcess access(
      {"access", "--listen", "127.0.0.1:0", "--threads", "2", "--master", master.url()});
  const uint16_t port = access.WaitForListening("access");
  const uint16_t admin = access.WaitForListening("admin");
  ASSERT_TRUE(Eventually([&] { return RouteTableVersion(admin) == 5; }, 5s));
  LoopbackClient client(port);
  ASSERT_TRUE(SetAndGet(client, "before"));

  for (const std::string& bad : BadMaps(main)) {
    master.Serve(bad);
    EXPECT_EQ(RouteTableVersion(admin), 5) << bad;
    EXPECT_TRUE(SetAndGet(client, "during")) << bad;
  }
  EXPECT_THAT(access.Log(),
              ::testing::HasSubstr("groups[0].epoch: expected a non-negative integer"));
  EXPECT_THAT(access.Log(), ::testing::HasSubstr("groups[0].nodes[0].role: expected a string"));
  EXPECT_THAT(access.Log(), ::testing::HasSubstr("groups: is missing"));
  EXPECT_THAT(access.Log(), ::testing::HasSubstr("slot_ranges[0]: no group g9 in the map"));
  EXPECT_THAT(access.Log(), ::testing::HasSubstr("keeping the map of version 5"));

  // A map from a newer master, with fields this version does not know, is taken.
  json future = GoodMap(200, main);
  future["placement"] = {{"zones", {"a", "b"}}};
  future["groups"][0]["slots"] = {{"from", 0}, {"to", 16383}};
  future["groups"][0]["nodes"][0]["zone"] = "a";
  master.Serve(future.dump());
  EXPECT_TRUE(Eventually([&] { return RouteTableVersion(admin) == 200; }, 5s)) << access.Log();
  EXPECT_TRUE(SetAndGet(client, "after"));
}

TEST(MalformedMapTest, CacheNodeKeepsItsRoleAndKeepsServing) {
  ScriptedMaster master;
  DaemonProcess cache({"cache", "--listen", "127.0.0.1:0", "--threads", "1", "--master",
                       master.url(), "--group", "g1"});
  const uint16_t port = cache.WaitForListening("cache");
  const std::string self = "127.0.0.1:" + std::to_string(port);
  master.Set(GoodMap(5, self).dump());
  LoopbackClient client(port);
  // The map makes it the main, with a lease that its answers keep renewing.
  ASSERT_TRUE(Eventually([&] { return SetAndGet(client, "before"); }, 5s)) << cache.Log();
  for (const std::string& bad : BadMaps(self)) {
    master.Serve(bad);
    EXPECT_TRUE(SetAndGet(client, "during")) << bad;
  }
  EXPECT_THAT(cache.Log(), ::testing::HasSubstr("keeping the map of version 5"));
  master.Serve(GoodMap(6, self).dump());
  EXPECT_TRUE(SetAndGet(client, "after")) << cache.Log();
}

}  // namespace
}  // namespace trellis
