#include "access/route_follower.h"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "http/client.h"
#include "master/client/master_client.h"
#include "net/address.h"

namespace trellis::access {

namespace asio = boost::asio;

namespace {

std::optional<boost::asio::ip::tcp::endpoint> Resolve(const std::string& address) {
  auto parsed = net::ParseHostPort(address);
  if (!parsed) {
    return std::nullopt;
  }
  auto endpoint = net::Resolve(*parsed);
  return endpoint ? std::optional(*endpoint) : std::nullopt;
}

}  // namespace

RouteTable RouteTableOf(const master::ClusterState& map) {
  std::vector<GroupRoute> groups;
  for (const master::GroupState& info : map.groups) {
    GroupRoute& group = groups.emplace_back();
    group.name = info.name;
    if (info.main) {
      group.main = Resolve(*info.main);
    }
    for (const master::NodeState& member : info.nodes) {
      if (member.role == master::Role::kBackup && member.healthy) {
        if (auto endpoint = Resolve(member.address)) {
          group.backups.push_back(*endpoint);
        }
      }
    }
  }
  if (groups.empty()) {
    groups.push_back({"(none)", std::nullopt, {}});
    return RouteTable::Even(std::move(groups), map.version);
  }
  // A slot in the dual step routes to its target, with its source to fall back on.
  std::vector<uint16_t> slot_groups = map.SlotGroups();
  std::vector<uint16_t> dual_sources(RouteTable::kSlots, RouteTable::kNotMoving);
  for (const master::SlotRange& range : map.slot_ranges) {
    if (!range.target || range.phase != master::MovePhase::kDual) {
      continue;
    }
    uint16_t target = 0;
    while (target < map.groups.size() && map.groups[target].name != *range.target) {
      ++target;
    }
    for (uint32_t slot = range.first; slot <= range.last; ++slot) {
      dual_sources[slot] = slot_groups[slot];
      slot_groups[slot] = target;
    }
  }
  return RouteTable::OfMap(std::move(groups), std::move(slot_groups), std::move(dual_sources),
                           map.version);
}

base::Result<master::ClusterState> FetchClusterMap(const master::MasterAccess& master,
                                                   std::chrono::milliseconds patience) {
  using Answer = base::Result<master::ClusterState>;
  return http::RunBlocking<Answer>([&](asio::any_io_executor executor) -> asio::awaitable<Answer> {
    auto client = master::MasterClient::ForUrl(executor, master);
    if (!client) {
      co_return client.error();
    }
    const auto deadline = std::chrono::steady_clock::now() + patience;
    asio::steady_timer pause(executor);
    for (;;) {
      auto map = co_await client->GetCluster();
      if (map) {
        co_return std::move(map).value();
      }
      if (map.error().code != base::ErrorCode::kUnavailable ||
          std::chrono::steady_clock::now() >= deadline) {
        co_return map.error();
      }
      pause.expires_after(std::chrono::milliseconds(200));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  });
}

base::Result<std::unique_ptr<RouteFollower>> RouteFollower::Start(
    const master::MasterAccess& master, AccessNode& node) {
  std::unique_ptr<RouteFollower> follower(new RouteFollower());
  auto client = master::MasterClient::ForUrl(follower->pool_.context(0).get_executor(), master);
  if (!client) {
    return client.error();
  }
  asio::co_spawn(
      follower->pool_.context(0),
      [client = std::move(client).value(), &node]() mutable -> asio::awaitable<void> {
        co_await master::FollowCluster(
            client, "",
            [&node](const master::ClusterState& map, bool changed,
                    std::chrono::steady_clock::time_point) -> asio::awaitable<void> {
              if (changed) {
                node.SetRouteTable(std::make_shared<const RouteTable>(RouteTableOf(map)));
                node.SetTenants(map.tenants);
                spdlog::info("route table version {}", map.version);
              }
              co_return;
            });
      },
      asio::detached);
  follower->pool_.Start();
  return follower;
}

RouteFollower::~RouteFollower() { pool_.Stop(); }

void RouteFollower::Drain(std::chrono::milliseconds) { pool_.Stop(); }

}  // namespace trellis::access
