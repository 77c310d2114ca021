// AccessShard: what one shard of the access proxy shares between its client
// connections: the route table it routes by, the tenants it lets in (with --auth) and
// one Backend per cache node.
//
// Thread safety: none; touched only on its shard's thread (a new route table or tenant
// directory arrives by a task posted to the shard).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "access/backend.h"
#include "access/route_table.h"
#include "access/tenant_directory.h"
#include "base/metrics.h"

namespace trellis::access {

class AccessShard {
 public:
  // `stale_map_retries` counts the requests sent again because a node refused the table's
  // version (RoutedRequest), shared by the node's shards.
  AccessShard(boost::asio::any_io_executor executor, BackendOptions options,
              base::Counter& stale_map_retries)
      : executor_(std::move(executor)), options_(options), stale_map_retries_(stale_map_retries) {}

  const std::shared_ptr<const RouteTable>& table() const { return table_; }
  // Takes `table` and runs what waited for it (OnNextChange).
  void SetTable(std::shared_ptr<const RouteTable> table);
  // Null until the node has had its first cluster map (and for a node without a master).
  const std::shared_ptr<const TenantDirectory>& tenants() const { return tenants_; }
  // Takes `tenants` and runs what waited for them (OnNextChange).
  void SetTenants(std::shared_ptr<const TenantDirectory> tenants);
  // Every shard of the node has `tenants` now (AccessNode::SetTenants): if this one still
  // has them, runs what waited.
  void NoteTenantsEverywhere(const TenantDirectory* tenants);
  // Whether every shard of the node has this shard's tenant directory: a tenant's
  // flush_all answers only then, so that no connection of the node still reads its keys
  // by the old generation.
  bool tenants_everywhere() const { return tenants_everywhere_; }
  // Runs `wake` once, when the next table or tenant directory arrives: a request a node
  // refused for its map version tries again then rather than at the end of its back-off,
  // a tenant's flush_all answers once its new generation is here.
  void OnNextChange(std::function<void()> wake) { waiters_.push_back(std::move(wake)); }

  // The connection to `node`, made on first use.
  Backend& BackendFor(const boost::asio::ip::tcp::endpoint& node, const std::string& group);
  // The node of `group` to send to: its main, or for a `read` with read-from-backup one
  // of its backups in turn; nullptr while the group has none.
  const boost::asio::ip::tcp::endpoint* NodeFor(const GroupRoute& group, bool read_from_backup);

  const boost::asio::any_io_executor& executor() const { return executor_; }
  base::Counter& stale_map_retries() { return stale_map_retries_; }

  // Closes every backend connection.
  void Close();

 private:
  void WakeWaiters();

  boost::asio::any_io_executor executor_;
  const BackendOptions options_;
  base::Counter& stale_map_retries_;
  std::shared_ptr<const RouteTable> table_;
  std::shared_ptr<const TenantDirectory> tenants_;
  std::vector<std::function<void()>> waiters_;  // OnNextChange's.
  bool tenants_everywhere_ = false;
  std::map<boost::asio::ip::tcp::endpoint, std::shared_ptr<Backend>> backends_;
  size_t next_backup_ = 0;  // Reads go round the backups.
};

}  // namespace trellis::access
