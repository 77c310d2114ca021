#include "access/access_shard.h"

namespace trellis::access {

void AccessShard::SetTable(std::shared_ptr<const RouteTable> table) {
  table_ = std::move(table);
  WakeWaiters();
}

void AccessShard::SetTenants(std::shared_ptr<const TenantDirectory> tenants) {
  tenants_ = std::move(tenants);
  tenants_everywhere_ = false;
  WakeWaiters();
}

void AccessShard::NoteTenantsEverywhere(const TenantDirectory* tenants) {
  if (tenants_.get() == tenants) {
    tenants_everywhere_ = true;
    WakeWaiters();
  }
}

void AccessShard::WakeWaiters() {
  std::vector<std::function<void()>> waiters = std::move(waiters_);
  waiters_.clear();
  for (const auto& wake : waiters) {
    wake();
  }
}

Backend& AccessShard::BackendFor(const boost::asio::ip::tcp::endpoint& node,
                                 const std::string& group) {
  std::shared_ptr<Backend>& backend = backends_[node];
  if (!backend) {
    backend = Backend::Create(executor_, node, group, options_);
  }
  return *backend;
}

const boost::asio::ip::tcp::endpoint* AccessShard::NodeFor(const GroupRoute& group,
                                                           bool read_from_backup) {
  if (read_from_backup && !group.backups.empty()) {
    return &group.backups[next_backup_++ % group.backups.size()];
  }
  return group.main ? &*group.main : nullptr;
}

void AccessShard::Close() {
  for (auto& [node, backend] : backends_) {
    backend->Close();
  }
  backends_.clear();
}

}  // namespace trellis::access
