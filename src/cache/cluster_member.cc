#include "cache/cluster_member.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/cluster_slot.h"
#include "net/address.h"

namespace trellis::cache {

namespace asio = boost::asio;
using master::Role;

std::vector<TenantQuota> TenantQuotasOf(const master::ClusterState& map, const std::string& group) {
  uint64_t slots = 0;
  for (const master::SlotRange& range : map.slot_ranges) {
    if (range.group == group || range.target == group) {
      slots += range.last - range.first + 1;
    }
  }
  std::vector<TenantQuota> quotas;
  for (const master::TenantState& tenant : map.tenants) {
    using Wide = unsigned __int128;  // A quota of any size times 16384 slots.
    const auto share =
        static_cast<uint64_t>(Wide{tenant.memory_bytes} * slots / base::kClusterSlots);
    if (share != 0) {  // None: this group holds none of its keys (or it has no quota).
      quotas.push_back({tenant.id, share});
    }
  }
  return quotas;
}

base::Result<std::unique_ptr<ClusterMember>> ClusterMember::Start(const MembershipOptions& options,
                                                                  CacheNode& node,
                                                                  base::Registry& metrics) {
  std::unique_ptr<ClusterMember> member(new ClusterMember(options, node, metrics));
  CacheNode* moving = &node;
  member->mover_ = std::make_unique<SlotMover>(
      node.store(), member->pool_.context(0).get_executor(), metrics,
      [moving] { return !moving->replication_status().read_only; }, node.cluster_tls());
  auto client =
      master::MasterClient::ForUrl(member->pool_.context(0).get_executor(), options.master);
  if (!client) {
    return base::WithContext("--master", client.error());
  }
  member->client_ = std::move(client).value();
  asio::co_spawn(member->pool_.context(0), member->Run(), asio::detached);
  member->pool_.Start();
  return member;
}

ClusterMember::~ClusterMember() { pool_.Stop(); }

void ClusterMember::Drain(std::chrono::milliseconds) { pool_.Stop(); }

asio::awaitable<void> ClusterMember::Register() {
  asio::steady_timer pause(co_await asio::this_coro::executor);
  for (;;) {
    // Named, not a braced temporary: g++ 12 destroys a temporary in a co_await expression
    // twice.
    const master::NodeRegistration registration{options_.group, options_.address};
    auto reply = co_await client_->Register(registration);
    if (reply) {
      spdlog::info("registered with the master {} as {} of group {}", client_->address(),
                   master::RoleName(reply->role), options_.group);
      co_return;
    }
    spdlog::warn("registering with the master {}: {}", client_->address(), reply.error().message);
    pause.expires_after(std::chrono::milliseconds(500));
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<void> ClusterMember::Run() {
  co_await Register();
  co_await master::FollowCluster(
      *client_, options_.address,
      [this](const master::ClusterState& map, bool changed,
             std::chrono::steady_clock::time_point asked) -> asio::awaitable<void> {
        const master::GroupState* group = map.FindGroup(options_.group);
        if (changed && !Apply(map)) {
          co_await Register();  // Not in the map (removed, or a new master): join again.
          co_return;
        }
        if (group != nullptr && group->main == options_.address) {
          node_.RenewLease(group->epoch, asked, map.lease);
        }
        PublishTenantMemory(map);
      });
}

bool ClusterMember::Apply(const master::ClusterState& map) {
  const master::GroupState* group = map.FindGroup(options_.group);
  const master::NodeState* self = group != nullptr ? group->FindNode(options_.address) : nullptr;
  if (self == nullptr) {
    return false;
  }
  node_.SetSyncReplication(group->mode == master::WriteMode::kSync);
  ApplySlots(map, self->role == Role::kMain);
  node_.store().SetTenantQuotas(TenantQuotasOf(map, options_.group));
  const std::string main = group->main.value_or("");
  if (self->role == role_ && main == main_ && group->frozen == frozen_) {
    return true;
  }
  const bool same_role = self->role == role_ && main == main_;
  role_ = self->role;
  main_ = main;
  frozen_ = group->frozen;
  if (self->role == Role::kMain) {
    if (!same_role) {
      spdlog::info("the master made this node the main of group {} (epoch {})", options_.group,
                   group->epoch);
      node_.BecomeMain(group->epoch);
    }
    node_.SetFrozen(frozen_);
    return true;
  }
  auto address = net::ParseHostPort(main_);
  auto endpoint = address ? net::Resolve(*address)
                          : base::Result<boost::asio::ip::tcp::endpoint>(address.error());
  if (endpoint) {
    spdlog::info("the master made this node a backup of {} in group {}", main_, options_.group);
    node_.BecomeBackupOf(*endpoint);
  }
  return true;
}

void ClusterMember::PublishTenantMemory(const master::ClusterState& map) {
  for (const TenantMemory& usage : node_.store().TenantMemoryUsage()) {
    const auto tenant = std::ranges::find(map.tenants, usage.tenant, &master::TenantState::id);
    if (tenant == map.tenants.end()) {
      continue;
    }
    const base::Labels labels = {{"tenant", tenant->name}};
    metrics_
        .GetGauge("trellis_cache_tenant_memory_bytes",
                  "Bytes of item memory a tenant with a memory quota holds on this node.", labels)
        .Set(static_cast<int64_t>(usage.bytes));
    metrics_
        .GetGauge("trellis_cache_tenant_memory_limit_bytes",
                  "A tenant's memory quota on this node: its quota times the group's share of "
                  "the slots.",
                  labels)
        .Set(static_cast<int64_t>(usage.limit_bytes));
    uint64_t& published = published_evictions_[usage.tenant];
    metrics_
        .GetCounter("trellis_cache_tenant_evictions_total",
                    "Items of a tenant with a memory quota evicted on this node.", labels)
        .Increment(usage.evictions - std::min(published, usage.evictions));
    published = std::max(published, usage.evictions);
  }
}

void ClusterMember::ApplySlots(const master::ClusterState& map, bool main) {
  node_.ApplySlots(map, options_.group);
  std::vector<SlotMoveTask> tasks;
  for (const master::SlotRange& range : map.slot_ranges) {
    if (!main || range.group != options_.group || !range.target ||
        range.phase != master::MovePhase::kDual) {
      continue;
    }
    const master::GroupState* target = map.FindGroup(*range.target);
    if (target == nullptr || !target->main) {
      continue;  // Waits for the target to have a main again.
    }
    for (uint32_t slot = range.first; slot <= range.last; ++slot) {
      tasks.push_back({slot, *target->main});
    }
  }
  mover_->Update(std::move(tasks), map.move_rate);
}

}  // namespace trellis::cache
