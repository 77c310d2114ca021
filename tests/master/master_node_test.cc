// The master's HTTP routes, in process: every operation's answers and errors (status and
// JSON body), long-polls answered on a change and at drain, and the per-group guard; the
// service registry through its routes, the typed client and KeepRegistered.
#include "master/master_node.h"

#include <gtest/gtest.h>

#include <future>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <nlohmann/json.hpp>

#include "http/client.h"
#include "master/client/master_client.h"
#include "testing/held_port.h"
#include "testing/temp_dir.h"

namespace trellis::master {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using boost::beast::http::verb;
using nlohmann::json;

class MasterNodeTest : public ::testing::Test {
 protected:
  MasterNodeTest() {
    MasterOptions options;
    options.data_dir = data_.path().string();
    options.listen = asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0);
    options.probe_interval = 50ms;
    node_ = std::move(MasterNode::Start(options, metrics_)).value();
    url_ = "127.0.0.1:" + std::to_string(node_->local_endpoint().port());
  }

  // One request: {status, body as JSON}.
  std::pair<int, json> Call(verb method, const std::string& target, const std::string& body) {
    auto response = http::RunBlocking(
        [&](asio::any_io_executor executor) -> asio::awaitable<base::Result<http::Response>> {
          auto client = http::Client::ForUrl(executor, url_);
          co_return co_await client->Call(method, target, body, 5s);
        });
    EXPECT_TRUE(response.ok()) << response.error().message;
    if (!response) {
      return {0, json()};
    }
    return {response->status, json::parse(response->body, nullptr, false)};
  }

  testing::TempDir data_;
  base::Registry metrics_;
  std::unique_ptr<MasterNode> node_;
  std::string url_;
};

TEST_F(MasterNodeTest, OperationsAnswerTypedBodiesAndErrorsWithTheirStatus) {
  EXPECT_EQ(Call(verb::post, "/v1/groups", R"({"name": "g1"})").first, 201);
  auto [status, body] = Call(verb::post, "/v1/groups", R"({"name": "g1"})");
  EXPECT_EQ(status, 409);
  EXPECT_EQ(body["error"], "group g1 exists");
  EXPECT_EQ(Call(verb::post, "/v1/groups", R"({"name": "bad name"})").first, 400);
  EXPECT_EQ(Call(verb::post, "/v1/groups", R"({"name": 7})").second["error"],
            "name: expected a string");
  EXPECT_EQ(Call(verb::post, "/v1/groups", "{not json").first, 400);
  EXPECT_EQ(Call(verb::post, "/v1/nodes", R"({"group": "nope", "address": "127.0.0.1:1"})").first,
            404);
  EXPECT_EQ(Call(verb::post, "/v1/nodes", R"({"group": "g1", "address": "no port"})").first, 400);

  auto [registered, reply] =
      Call(verb::post, "/v1/nodes", R"({"group": "g1", "address": "127.0.0.1:1"})");
  EXPECT_EQ(registered, 200);
  auto parsed = ParseRegistrationReply(reply);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->role, Role::kMain);
  EXPECT_EQ(parsed->main, "127.0.0.1:1");

  EXPECT_EQ(Call(verb::post, "/v1/groups/g1/mode", R"({"mode": "fast"})").first, 400);
  EXPECT_EQ(Call(verb::post, "/v1/groups/g1/mode", R"({"mode": "sync"})").first, 200);
  EXPECT_EQ(Call(verb::post, "/v1/groups/g9/mode", R"({"mode": "sync"})").first, 404);
  // No healthy backup to promote.
  EXPECT_EQ(Call(verb::post, "/v1/groups/g1/failover", "").first, 409);
  // A failover of an epoch that is not the group's.
  auto [stale, why] = Call(verb::post, "/v1/groups/g1/failover", R"({"epoch": 7})");
  EXPECT_EQ(stale, 409);
  EXPECT_EQ(why["error"], "group g1 is at epoch 1, not 7: its main has changed already");
  EXPECT_EQ(Call(verb::delete_, "/v1/nodes/127.0.0.9:9", "").first, 404);
  EXPECT_EQ(Call(verb::get, "/v1/nowhere", "").first, 404);
  EXPECT_EQ(Call(verb::put, "/v1/groups", "").first, 405);

  auto [ok, map_json] = Call(verb::get, "/v1/cluster", "");
  EXPECT_EQ(ok, 200);
  auto map = ParseClusterState(map_json);
  ASSERT_TRUE(map.ok()) << map.error().message;
  ASSERT_EQ(map->groups.size(), 1u);
  EXPECT_EQ(map->groups[0].mode, WriteMode::kSync);
  EXPECT_EQ(map->groups[0].main, "127.0.0.1:1");
  EXPECT_EQ(map->lease, 150ms);
}

TEST_F(MasterNodeTest, LongPollsAreAnsweredOnAChangeAndAtDrain) {
  const uint64_t version = ParseClusterState(Call(verb::get, "/v1/cluster", "").second)->version;
  auto watch = [&] {
    return Call(verb::get, "/v1/cluster?after=" + std::to_string(version) + "&wait=30", "");
  };
  auto changed = std::async(std::launch::async, watch);
  // The poll waits until the map changes.
  EXPECT_EQ(changed.wait_for(100ms), std::future_status::timeout);
  EXPECT_EQ(Call(verb::post, "/v1/groups", R"({"name": "g1"})").first, 201);
  EXPECT_GT(ParseClusterState(changed.get().second)->version, version);

  auto waiting = std::async(std::launch::async, [&] {
    return Call(verb::get, "/v1/cluster?after=" + std::to_string(version + 1) + "&wait=30", "");
  });
  EXPECT_EQ(waiting.wait_for(100ms), std::future_status::timeout);
  node_->Drain(5s);
  EXPECT_EQ(waiting.get().first, 304)
      << "a drain answers every waiting poll at once (the map is unchanged)";
}

TEST_F(MasterNodeTest, APollThatSeesNoChangeGetsNoMap) {
  ASSERT_EQ(Call(verb::post, "/v1/groups", R"({"name": "g1"})").first, 201);
  const uint64_t version = ParseClusterState(Call(verb::get, "/v1/cluster", "").second)->version;
  ASSERT_GT(version, 0u);
  const auto unchanged =
      Call(verb::get, "/v1/cluster?after=" + std::to_string(version) + "&wait=0.01", "");
  EXPECT_EQ(unchanged.first, 304);
  EXPECT_TRUE(unchanged.second.is_discarded()) << "no body: " << unchanged.second;
  const auto older =
      Call(verb::get, "/v1/cluster?after=" + std::to_string(version - 1) + "&wait=0.01", "");
  EXPECT_EQ(older.first, 200);
  EXPECT_EQ(ParseClusterState(older.second)->version, version);
}

TEST_F(MasterNodeTest, ServicesRegisterListAndDeregisterThroughTheirRoutes) {
  const std::string backup_center =
      R"({"name": "backup-center", "kind": "backup-center", "url": "http://127.0.0.1:9300",
          "metrics_url": "http://127.0.0.1:9301/metrics", "summary": "2/2 groups streaming"})";
  auto [registered, stored] = Call(verb::put, "/v1/services/backup-center", backup_center);
  EXPECT_EQ(registered, 200);
  auto status = ParseServiceStatus(stored);
  ASSERT_TRUE(status.ok()) << status.error().message;
  EXPECT_EQ(status->registration.summary, "2/2 groups streaming");
  EXPECT_EQ(status->age_seconds, 0);

  auto [mismatch, why] = Call(verb::put, "/v1/services/monitor", backup_center);
  EXPECT_EQ(mismatch, 400);
  EXPECT_EQ(why["error"], "name: \"backup-center\" is not the NAME of /v1/services/monitor");
  auto [missing, what] = Call(verb::put, "/v1/services/monitor", R"({"name": "monitor"})");
  EXPECT_EQ(missing, 400);
  EXPECT_EQ(what["error"], "kind: is missing");
  EXPECT_EQ(Call(verb::put, "/v1/services/a%20b",
                 R"({"name": "a b", "kind": "k", "url": "u", "metrics_url": "", "summary": ""})")
                .first,
            400);
  EXPECT_EQ(Call(verb::put, "/v1/services/backup-center", "{not json").first, 400);

  auto [listed, list_json] = Call(verb::get, "/v1/services", "");
  EXPECT_EQ(listed, 200);
  auto list = ParseServiceList(list_json);
  ASSERT_TRUE(list.ok()) << list.error().message;
  ASSERT_EQ(list->services.size(), 1u);
  EXPECT_EQ(list->services[0].registration.url, "http://127.0.0.1:9300");
  EXPECT_GE(list->services[0].age_seconds, 0);

  const auto [deleted, nothing] = Call(verb::delete_, "/v1/services/backup-center", "");
  EXPECT_EQ(deleted, 204);
  EXPECT_TRUE(nothing.is_discarded()) << "no body: " << nothing;
  EXPECT_EQ(Call(verb::delete_, "/v1/services/backup-center", "").first, 404);
  EXPECT_TRUE(ParseServiceList(Call(verb::get, "/v1/services", "").second)->services.empty());
}

// Lists the services every 10 ms until `done` holds for the list; an error after 5 s.
asio::awaitable<base::Result<std::vector<ServiceStatus>>> ListUntil(
    MasterClient& client, std::function<bool(const std::vector<ServiceStatus>&)> done) {
  asio::steady_timer pause(co_await asio::this_coro::executor);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  for (;;) {
    auto services = co_await client.ListServices();
    if (services && done(*services)) {
      co_return services;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      co_return base::Error{"not listed within 5 s"};
    }
    pause.expires_after(10ms);
    co_await pause.async_wait(asio::use_awaitable);
  }
}

// "renewal N" -> N.
int RenewalOf(const ServiceStatus& service) {
  return std::stoi(service.registration.summary.substr(service.registration.summary.find(' ')));
}

TEST_F(MasterNodeTest, KeepRegisteredRenewsWithWhatTheServiceSaysNow) {
  using namespace asio::experimental::awaitable_operators;
  int described = 0;
  const auto describe = [&described] {
    return ServiceRegistration{"backup-center", "backup-center", "http://127.0.0.1:9300", "",
                               "renewal " + std::to_string(++described)};
  };
  auto listed = http::RunBlocking<base::Result<std::vector<ServiceStatus>>>(
      [&](asio::any_io_executor executor)
          -> asio::awaitable<base::Result<std::vector<ServiceStatus>>> {
        auto service = MasterClient::ForUrl(executor, {url_, "", nullptr});
        auto reader = MasterClient::ForUrl(executor, {url_, "", nullptr});
        // The first to finish cancels the other: KeepRegistered ends without a word.
        auto first = co_await (KeepRegistered(*service, describe, 10ms) ||
                               ListUntil(*reader, [](const std::vector<ServiceStatus>& services) {
                                 return services.size() == 1 && RenewalOf(services[0]) >= 3;
                               }));
        co_return std::get<1>(std::move(first));
      });
  ASSERT_TRUE(listed.ok()) << listed.error().message;
  EXPECT_EQ((*listed)[0].registration.name, "backup-center");
  EXPECT_GE(described, 3);
}

TEST_F(MasterNodeTest, KeepRegisteredOutlastsAnAbsentMasterAndRegistersWithTheNextOne) {
  using namespace asio::experimental::awaitable_operators;
  testing::HeldPort port;  // Refuses connections until a master listens on it.
  int described = 0;
  const auto describe = [&described] {
    ++described;
    return ServiceRegistration{"monitor", "monitor", "http://127.0.0.1:9400", "", "up"};
  };
  testing::TempDir data;
  base::Registry metrics;
  std::unique_ptr<MasterNode> restarted;
  auto listed = http::RunBlocking<base::Result<std::vector<ServiceStatus>>>(
      [&](asio::any_io_executor executor)
          -> asio::awaitable<base::Result<std::vector<ServiceStatus>>> {
        auto service = MasterClient::ForUrl(executor, {port.address(), "", nullptr});
        auto reader = MasterClient::ForUrl(executor, {port.address(), "", nullptr});
        auto start_master_after_failures =
            [&]() -> asio::awaitable<base::Result<std::vector<ServiceStatus>>> {
          asio::steady_timer pause(executor);
          while (described < 3) {  // Failed renewals: nothing listens yet.
            pause.expires_after(5ms);
            co_await pause.async_wait(asio::use_awaitable);
          }
          MasterOptions options;
          options.data_dir = data.path().string();
          options.listen =
              asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port.port());
          restarted = std::move(MasterNode::Start(options, metrics)).value();
          co_return co_await ListUntil(*reader, [](const std::vector<ServiceStatus>& services) {
            return services.size() == 1;
          });
        };
        auto first =
            co_await (KeepRegistered(*service, describe, 10ms) || start_master_after_failures());
        co_return std::get<1>(std::move(first));
      });
  ASSERT_TRUE(listed.ok()) << listed.error().message;
  EXPECT_EQ((*listed)[0].registration.name, "monitor");
}

}  // namespace
}  // namespace trellis::master
