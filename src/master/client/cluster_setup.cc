#include "master/client/cluster_setup.h"

#include <set>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "http/client.h"
#include "master/client/master_client.h"

namespace trellis::master {

namespace asio = boost::asio;

base::Status ApplyGroupPlan(const MasterAccess& master, const std::vector<GroupPlan>& plan,
                            std::chrono::milliseconds patience) {
  return http::RunBlocking<base::Status>(
      [&](asio::any_io_executor executor) -> asio::awaitable<base::Status> {
        TRELLIS_CO_TRY(MasterClient client, MasterClient::ForUrl(executor, master));
        const auto deadline = std::chrono::steady_clock::now() + patience;
        asio::steady_timer pause(executor);
        auto map = co_await client.GetCluster();
        while (!map && map.error().code == base::ErrorCode::kUnavailable &&
               std::chrono::steady_clock::now() < deadline) {
          pause.expires_after(std::chrono::milliseconds(50));
          co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
          map = co_await client.GetCluster();
        }
        if (!map) {
          co_return map.error();
        }
        std::set<std::string> planned;
        for (const GroupPlan& group : plan) {
          planned.insert(group.nodes.begin(), group.nodes.end());
          if (map->FindGroup(group.name) == nullptr) {
            // Named, not a braced temporary: g++ 12 destroys a temporary in a co_await
            // expression twice.
            const NewGroup new_group{group.name};
            if (base::Status added = co_await client.AddGroup(new_group); !added) {
              co_return added.error();
            }
          }
        }
        for (const GroupState& group : map->groups) {
          for (const NodeState& node : group.nodes) {
            if (!planned.contains(node.address)) {
              if (base::Status removed = co_await client.RemoveNode(node.address); !removed) {
                co_return removed.error();
              }
            }
          }
        }
        co_return base::Status();
      });
}

}  // namespace trellis::master
