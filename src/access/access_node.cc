#include "access/access_node.h"

#include <nlohmann/json.hpp>

#include "base/clock.h"

namespace trellis::access {

AccessNode::AccessNode(const AccessNodeOptions& options, base::Registry& metrics)
    : tenant_registry_(metrics), pool_(options.threads) {
  proxy_options_.threads = options.threads;
  proxy_options_.require_login = options.require_login;
  proxy_options_.logins = &tenant_registry_;
  proxy_options_.master = options.master;
  proxy_options_.started = base::CoarseUnixSeconds();
  proxy_options_.metrics = &metrics;
  proxy_options_.read_from_backup = options.read_from_backup;
  base::Counter& stale_map_retries = metrics.GetCounter(
      "trellis_access_stale_map_retries_total",
      "Requests sent again because a cache node refused the route table's version (a slot "
      "moved)");
  for (int shard = 0; shard < pool_.size(); ++shard) {
    shards_.push_back(std::make_unique<AccessShard>(pool_.context(shard).get_executor(),
                                                    options.backend, stale_map_retries));
  }
}

base::Result<std::unique_ptr<AccessNode>> AccessNode::Start(const AccessNodeOptions& options,
                                                            std::shared_ptr<const RouteTable> table,
                                                            base::Registry& metrics) {
  std::unique_ptr<AccessNode> node(new AccessNode(options, metrics));
  for (auto& shard : node->shards_) {
    shard->SetTable(table);  // The threads are not running yet.
  }
  node->route_table_version_ = table->version();
  if (options.tls) {
    TRELLIS_TRY(node->tls_, net::ReloadableTlsContext::Load(*options.tls));
  }
  net::ServerOptions server_options;
  server_options.name = "access";
  server_options.listen = options.listen;
  server_options.max_connections = options.max_connections;
  server_options.idle_timeout = options.idle_timeout;
  server_options.overload_reply = "ERROR Too many open connections\r\n";
  server_options.tls = node->tls_;
  AccessNode* self = node.get();
  auto server = net::Server::Start(
      node->pool_, server_options,
      [self](net::Connection& connection) {
        return ServeAccess(connection, *self->shards_[connection.shard()], self->proxy_options_);
      },
      metrics);
  if (!server) {
    return server.error();
  }
  node->server_ = std::move(server).value();
  node->endpoint_ = node->server_->local_endpoint();
  node->pool_.Start();
  return node;
}

AccessNode::~AccessNode() { Drain(std::chrono::milliseconds(0)); }

std::vector<daemon::Listener> AccessNode::listeners() const {
  return {{"access", "memcached protocol", endpoint_}};
}

base::Status AccessNode::Reload() { return tls_ != nullptr ? tls_->Reload() : base::Status(); }

void AccessNode::ReportStatus(nlohmann::json& status) const {
  status["route_table"] = {{"version", route_table_version()}};
}

void AccessNode::SetRouteTable(std::shared_ptr<const RouteTable> table) {
  // The shards count down; the last one to switch publishes the version. Posts reach
  // each shard in order, so an older table's count ends before a newer one's.
  auto remaining = std::make_shared<std::atomic<int>>(pool_.size());
  pool_.PostToEveryShard([this, table = std::move(table), remaining](int shard) {
    shards_[shard]->SetTable(table);
    if (remaining->fetch_sub(1) == 1) {
      route_table_version_ = table->version();
    }
  });
}

void AccessNode::SetTenants(const std::vector<master::TenantState>& tenants) {
  std::shared_ptr<const TenantDirectory> directory = tenant_registry_.DirectoryOf(tenants);
  // The last shard to take it tells them all (AccessShard::tenants_everywhere).
  auto left = std::make_shared<std::atomic<int>>(pool_.size());
  pool_.PostToEveryShard([this, directory, left](int shard) {
    shards_[shard]->SetTenants(directory);
    if (left->fetch_sub(1) == 1) {
      pool_.PostToEveryShard(
          [this, directory](int other) { shards_[other]->NoteTenantsEverywhere(directory.get()); });
    }
  });
}

void AccessNode::Drain(std::chrono::milliseconds timeout) {
  if (stopped_) {
    return;
  }
  stopped_ = true;
  if (server_) {
    server_->Drain(timeout);
    server_.reset();
  }
  pool_.RunOnEveryShard([this](int shard) { shards_[shard]->Close(); });
  pool_.Stop();
}

}  // namespace trellis::access
