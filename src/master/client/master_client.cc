#include "master/client/master_client.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

namespace trellis::master {

namespace asio = boost::asio;
using boost::beast::http::verb;
using nlohmann::json;

namespace {

// Operations answer at once; a switchover may wait for a backup to catch up (at most
// 5 s) and for the old main's lease to run out.
constexpr std::chrono::milliseconds kCallTimeout{15000};
// A long-poll's answer may come this long after the wait it asked for.
constexpr std::chrono::milliseconds kWatchMargin{2000};

// The reply of `call` parsed by `parse`, with the master's address on errors.
template <typename T, typename Parse>
base::Result<T> Parsed(const std::string& address, base::Result<json> reply, Parse parse) {
  if (!reply) {
    return reply.error();
  }
  auto value = parse(*reply);
  if (!value) {
    return base::WithContext("master " + address + " answered an unexpected body", value.error());
  }
  return value;
}

base::Status StatusOf(base::Result<json> reply) {
  if (!reply) {
    return reply.error();
  }
  return {};
}

}  // namespace

base::Result<MasterClient> MasterClient::ForUrl(asio::any_io_executor executor,
                                                std::string_view url) {
  auto http = http::Client::ForUrl(std::move(executor), url);
  if (!http) {
    return base::InvalidArgument("master URL '" + std::string(url) +
                                 "': expected http://HOST:PORT");
  }
  return MasterClient(std::move(http).value());
}

asio::awaitable<base::Result<ClusterState>> MasterClient::GetCluster() {
  auto reply = co_await http::CallJson(http_, verb::get, "/v1/cluster", json(), kCallTimeout);
  co_return Parsed<ClusterState>(address(), std::move(reply), ParseClusterState);
}

asio::awaitable<base::Result<std::optional<ClusterState>>> MasterClient::WatchCluster(
    std::optional<uint64_t> after, std::chrono::milliseconds wait, std::string_view node) {
  std::string target = "/v1/cluster?wait=" + std::to_string(wait.count() / 1000.0);
  if (after) {
    target += "&after=" + std::to_string(*after);
  }
  if (!node.empty()) {
    target += "&node=" + std::string(node);
  }
  const std::string what = "GET " + target + " to " + address();
  auto response = co_await http_.Call(verb::get, std::move(target), "", wait + kWatchMargin);
  if (!response) {
    co_return response.error();
  }
  if (response->status == 304) {
    co_return std::optional<ClusterState>();
  }
  auto map = Parsed<ClusterState>(address(), http::JsonOf(*response, what), ParseClusterState);
  if (!map) {
    co_return map.error();
  }
  co_return std::optional<ClusterState>(std::move(map).value());
}

asio::awaitable<base::Result<RegistrationReply>> MasterClient::Register(
    const NodeRegistration& registration) {
  auto reply =
      co_await http::CallJson(http_, verb::post, "/v1/nodes", ToJson(registration), kCallTimeout);
  co_return Parsed<RegistrationReply>(address(), std::move(reply), ParseRegistrationReply);
}

asio::awaitable<base::Status> MasterClient::AddGroup(const NewGroup& group) {
  co_return StatusOf(
      co_await http::CallJson(http_, verb::post, "/v1/groups", ToJson(group), kCallTimeout));
}

asio::awaitable<base::Status> MasterClient::RemoveNode(std::string_view address) {
  co_return StatusOf(co_await http::CallJson(
      http_, verb::delete_, "/v1/nodes/" + std::string(address), json(), kCallTimeout));
}

asio::awaitable<base::Result<FailoverReply>> MasterClient::Failover(
    std::string_view group, const FailoverRequest& request) {
  auto reply =
      co_await http::CallJson(http_, verb::post, "/v1/groups/" + std::string(group) + "/failover",
                              ToJson(request), kCallTimeout);
  co_return Parsed<FailoverReply>(address(), std::move(reply), ParseFailoverReply);
}

asio::awaitable<base::Status> MasterClient::SetMode(std::string_view group,
                                                    const ModeChange& change) {
  co_return StatusOf(co_await http::CallJson(http_, verb::post,
                                             "/v1/groups/" + std::string(group) + "/mode",
                                             ToJson(change), kCallTimeout));
}

asio::awaitable<base::Result<RebalanceReply>> MasterClient::Rebalance(
    const RebalanceRequest& request) {
  auto reply =
      co_await http::CallJson(http_, verb::post, "/v1/rebalance", ToJson(request), kCallTimeout);
  co_return Parsed<RebalanceReply>(address(), std::move(reply), ParseRebalanceReply);
}

asio::awaitable<base::Result<RebalanceReply>> MasterClient::Drain(std::string_view group,
                                                                  const RebalanceRequest& request) {
  auto reply =
      co_await http::CallJson(http_, verb::post, "/v1/groups/" + std::string(group) + "/drain",
                              ToJson(request), kCallTimeout);
  co_return Parsed<RebalanceReply>(address(), std::move(reply), ParseRebalanceReply);
}

asio::awaitable<base::Status> MasterClient::RemoveGroup(std::string_view group) {
  co_return StatusOf(co_await http::CallJson(
      http_, verb::delete_, "/v1/groups/" + std::string(group), json(), kCallTimeout));
}

asio::awaitable<base::Result<MigrationStatus>> MasterClient::GetMigrations() {
  auto reply = co_await http::CallJson(http_, verb::get, "/v1/migrations", json(), kCallTimeout);
  co_return Parsed<MigrationStatus>(address(), std::move(reply), ParseMigrationStatus);
}

asio::awaitable<void> FollowCluster(MasterClient& client, std::string node, MapObserver on_map) {
  asio::steady_timer pause(co_await asio::this_coro::executor);
  std::optional<ClusterState> map;  // The last one answered.
  // How long the master may hold a request: each answer renews a main's lease, so a
  // node asks at least six times per lease, and at least four times a second.
  std::chrono::milliseconds wait{0};
  for (;;) {
    const auto asked = std::chrono::steady_clock::now();
    std::optional<uint64_t> version;
    if (map) {
      version = map->version;
    }
    auto answer = co_await client.WatchCluster(version, wait, node);
    if (!answer) {
      if (answer.error().code == base::ErrorCode::kUnavailable) {
        spdlog::debug("{}", answer.error().message);
      } else {
        spdlog::warn("{}; keeping the map of version {}", answer.error().message,
                     version ? std::to_string(*version) : "(none)");
      }
      pause.expires_after(std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    const bool changed = answer->has_value();
    if (changed) {
      map = std::move(**answer);
    }
    wait = std::clamp<std::chrono::milliseconds>(map->lease / 6, std::chrono::milliseconds(10),
                                                 std::chrono::milliseconds(250));
    co_await on_map(*map, changed, asked);
  }
}

}  // namespace trellis::master
