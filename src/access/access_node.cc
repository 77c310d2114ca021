#include "access/access_node.h"

#include <future>

#include <boost/asio/post.hpp>

namespace trellis::access {

AccessNode::AccessNode(const AccessNodeOptions& options, base::Registry& metrics)
    : pool_(options.threads) {
  proxy_options_.threads = options.threads;
  proxy_options_.started = time(nullptr);
  proxy_options_.metrics = &metrics;
  proxy_options_.read_from_backup = options.read_from_backup;
  for (int shard = 0; shard < pool_.size(); ++shard) {
    shards_.push_back(
        std::make_unique<AccessShard>(pool_.context(shard).get_executor(), options.backend));
  }
}

base::Result<std::unique_ptr<AccessNode>> AccessNode::Start(
    const AccessNodeOptions& options, std::shared_ptr<const RouteTable> table,
    base::Registry& metrics) {
  std::unique_ptr<AccessNode> node(new AccessNode(options, metrics));
  for (auto& shard : node->shards_) {
    shard->SetTable(table);  // The threads are not running yet.
  }
  node->route_table_version_ = table->version();
  net::ServerOptions server_options;
  server_options.name = "access";
  server_options.listen = options.listen;
  server_options.max_connections = options.max_connections;
  server_options.idle_timeout = options.idle_timeout;
  server_options.overload_reply = "ERROR Too many open connections\r\n";
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

AccessNode::~AccessNode() { Stop(std::chrono::milliseconds(0)); }

void AccessNode::OnEveryShard(const std::function<void(AccessShard&)>& fn) {
  std::vector<std::future<void>> done;
  for (size_t i = 0; i < shards_.size(); ++i) {
    auto task = std::make_shared<std::packaged_task<void()>>([&fn, shard = shards_[i].get()] {
      fn(*shard);
    });
    done.push_back(task->get_future());
    boost::asio::post(pool_.context(static_cast<int>(i)), [task] { (*task)(); });
  }
  for (auto& future : done) {
    future.wait();
  }
}

void AccessNode::SetRouteTable(std::shared_ptr<const RouteTable> table) {
  OnEveryShard([&table](AccessShard& shard) { shard.SetTable(table); });
  route_table_version_ = table->version();
}

void AccessNode::Stop(std::chrono::milliseconds timeout) {
  if (stopped_) {
    return;
  }
  stopped_ = true;
  if (server_) {
    server_->Drain(timeout);
    server_.reset();
  }
  OnEveryShard([](AccessShard& shard) { shard.Close(); });
  pool_.Stop();
}

}  // namespace trellis::access
