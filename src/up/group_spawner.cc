#include "up/group_spawner.h"

#include <nlohmann/json.hpp>

#include "http/client.h"
#include "http/message.h"
#include "master/client/master_client.h"
#include "net/address.h"
#include "net/reserved_port.h"

namespace trellis::up {

namespace asio = boost::asio;
using boost::asio::ip::tcp;

base::Result<std::pair<master::GroupPlan, std::vector<daemon::ChildSpec>>> GroupSpawner::Plan(
    const std::string& group) {
  master::GroupPlan plan{group, {}};
  std::vector<daemon::ChildSpec> specs;
  for (const char* member : {"a", "b"}) {
    TRELLIS_TRY(auto port, net::ReservedPort::Reserve(tcp::endpoint(options_.host, 0)));
    const tcp::endpoint node = supervisor_.Hold(std::move(port));
    const std::string address = net::FormatEndpoint(node);
    plan.nodes.push_back(address);
    std::vector<std::string> args = {"cache",
                                     "--listen",
                                     address,
                                     "--threads",
                                     "1",
                                     "--memory",
                                     std::to_string(options_.memory_mb),
                                     "--master",
                                     options_.master.url,
                                     "--group",
                                     group};
    if (!options_.token_file.empty()) {
      args.insert(args.end(), {"--token-file", options_.token_file});
    }
    args.insert(args.end(), options_.common.begin(), options_.common.end());
    specs.push_back({group + "-" + member,
                     std::move(args),
                     {daemon::Listener{group + "-" + member, "cache node of group " + group, node}},
                     ""});
  }
  return std::pair(std::move(plan), std::move(specs));
}

base::Status GroupSpawner::Spawn(const std::string& group) {
  std::lock_guard lock(mu_);
  TRELLIS_TRY_STATUS(http::RunBlocking<base::Status>(
      [&](asio::any_io_executor executor) -> asio::awaitable<base::Status> {
        TRELLIS_CO_TRY(auto client, master::MasterClient::ForUrl(executor, options_.master));
        // Named, not a braced temporary: g++ 12 destroys a temporary in a co_await
        // expression twice.
        const master::NewGroup new_group{group};
        co_return co_await client.AddGroup(new_group);
      }));
  TRELLIS_TRY(auto planned, Plan(group));
  return supervisor_.Add(std::move(planned.second), options_.patience);
}

admin::ApiHandler GroupSpawner::Api(std::shared_ptr<GroupSpawner> spawner) {
  return [spawner](const admin::ApiRequest& request)
             -> asio::awaitable<std::optional<admin::ApiResponse>> {
    if (request.path != "/v1/groups") {
      co_return std::nullopt;
    }
    if (request.method != "POST") {
      co_return admin::ApiResponse{405, R"({"error": "POST only", "code": "invalid_argument"})"};
    }
    const nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
    base::Result<master::NewGroup> group = master::ParseNewGroup(body);
    base::Status spawned = group ? spawner->Spawn(group->name) : base::Status(group.error());
    if (!spawned) {
      const http::Response error = http::Response::Error(spawned.error());
      co_return admin::ApiResponse{error.status, error.body};
    }
    co_return admin::ApiResponse{201, master::ToJson(*group).dump()};
  };
}

}  // namespace trellis::up
