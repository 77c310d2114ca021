#include "cli/master_following.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "net/address.h"

namespace trellis::cli {

namespace {

std::optional<boost::asio::ip::tcp::endpoint> Resolve(const std::string& address) {
  auto parsed = net::ParseHostPort(address);
  if (!parsed) {
    return std::nullopt;
  }
  auto endpoint = net::Resolve(*parsed);
  return endpoint ? std::optional(*endpoint) : std::nullopt;
}

// The entry of `group` in a cluster map, or null.
const nlohmann::json* FindGroup(const nlohmann::json& map, const std::string& group) {
  const auto groups = map.find("groups");
  if (groups != map.end() && groups->is_array()) {
    for (const nlohmann::json& info : *groups) {
      if (info.value("name", "") == group) {
        return &info;
      }
    }
  }
  return nullptr;
}

}  // namespace

MasterFollower::~MasterFollower() {
  stop_ = true;
  if (thread_.joinable()) {
    thread_.join();
  }
}

void MasterFollower::Run(std::function<void(const std::atomic<bool>& stop)> body) {
  thread_ = std::thread([this, body = std::move(body)] { body(stop_); });
}

void FollowAsCacheNode(const master::MasterClient& client, const std::string& group,
                       const std::string& self, cache::CacheNode& node,
                       const std::atomic<bool>& stop) {
  const std::string registration =
      nlohmann::json{{"group", group}, {"address", self}}.dump();
  auto register_once = [&]() {
    while (!stop.load()) {
      auto reply = client.Call("POST", "/v1/nodes", registration, std::chrono::seconds(2));
      if (reply) {
        spdlog::info("registered with the master {} as {} of group {}", client.address(),
                     reply->value("role", "?"), group);
        return;
      }
      spdlog::warn("registering with the master {}: {}", client.address(), reply.error().message);
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  };
  register_once();
  std::string role;
  std::string main;
  bool frozen = false;
  client.Follow(
      [&](const nlohmann::json& map) {
        if (const nlohmann::json* found = FindGroup(map, group)) {
          const nlohmann::json& info = *found;
          node.SetSyncReplication(info.value("mode", "async") == "sync");
          for (const nlohmann::json& member : info.value("nodes", nlohmann::json::array())) {
            if (member.value("address", "") != self) {
              continue;
            }
            const std::string new_role = member.value("role", "backup");
            const nlohmann::json main_address = info.value("main", nlohmann::json());
            const std::string new_main = main_address.is_string() ? main_address.get<std::string>() : "";
            const bool new_frozen = info.value("frozen", false);
            if (new_role == role && new_main == main && new_frozen == frozen) {
              return;
            }
            const bool same_role = new_role == role && new_main == main;
            role = new_role;
            main = new_main;
            frozen = new_frozen;
            if (role == "main") {
              if (!same_role) {
                spdlog::info("the master made this node the main of group {} (epoch {})", group,
                             info.value("epoch", 0));
                node.BecomeMain(info.value("epoch", uint64_t{0}));
              }
              node.SetFrozen(frozen);
            } else if (auto endpoint = Resolve(main)) {
              spdlog::info("the master made this node a backup of {} in group {}", main, group);
              node.BecomeBackupOf(*endpoint);
            }
            return;
          }
        }
        register_once();  // Not in the map (removed, or a new master): join again.
      },
      [&stop] { return stop.load(); }, self,
      [&](const nlohmann::json& map, std::chrono::steady_clock::time_point asked) {
        const nlohmann::json* info = FindGroup(map, group);
        if (info != nullptr && info->value("main", nlohmann::json()) == self) {
          node.RenewLease(info->value("epoch", uint64_t{0}), asked,
                          std::chrono::milliseconds(map.value("lease_ms", int64_t{0})));
        }
      });
}

access::RouteTable RouteTableOf(const nlohmann::json& map) {
  std::vector<access::GroupRoute> groups;
  for (const nlohmann::json& info : map.value("groups", nlohmann::json::array())) {
    access::GroupRoute group;
    group.name = info.value("name", "");
    if (info.contains("main") && info["main"].is_string()) {
      group.main = Resolve(info["main"].get<std::string>());
    }
    for (const nlohmann::json& member : info.value("nodes", nlohmann::json::array())) {
      if (member.value("role", "") == "backup" && member.value("healthy", false)) {
        if (auto endpoint = Resolve(member.value("address", ""))) {
          group.backups.push_back(*endpoint);
        }
      }
    }
    groups.push_back(std::move(group));
  }
  if (groups.empty()) {
    groups.push_back({"(none)", std::nullopt, {}});
  }
  return access::RouteTable::Even(std::move(groups), map.value("version", uint64_t{0}));
}

void FollowAsAccessNode(const master::MasterClient& client, access::AccessNode& node,
                        const std::atomic<bool>& stop) {
  client.Follow(
      [&node](const nlohmann::json& map) {
        node.SetRouteTable(std::make_shared<access::RouteTable>(RouteTableOf(map)));
        spdlog::info("route table version {}", map.value("version", 0));
      },
      [&stop] { return stop.load(); });
}

}  // namespace trellis::cli
