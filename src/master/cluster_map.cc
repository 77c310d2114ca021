#include "master/cluster_map.h"

#include <algorithm>

namespace trellis::master {

const GroupInfo* ClusterMap::FindGroup(const std::string& name) const {
  for (const GroupInfo& group : groups_) {
    if (group.name == name) {
      return &group;
    }
  }
  return nullptr;
}

NodeInfo* ClusterMap::FindNode(const std::string& address) {
  for (NodeInfo& node : nodes_) {
    if (node.address == address) {
      return &node;
    }
  }
  return nullptr;
}

const NodeInfo* ClusterMap::MainOf(const std::string& group) const {
  for (const NodeInfo& node : nodes_) {
    if (node.group == group && node.role == Role::kMain) {
      return &node;
    }
  }
  return nullptr;
}

base::Status ClusterMap::AddGroup(const std::string& name) {
  if (name.empty() || name.size() > 64 || !std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
      })) {
    return base::InvalidArgument("group names are 1-64 letters, digits, '-' or '_'");
  }
  if (FindGroup(name) != nullptr) {
    return base::Conflict("group " + name + " exists");
  }
  groups_.push_back({name, 1, false, false});
  if (nodes_.empty()) {
    SplitSlotsEvenly();
  }
  Touch();
  return {};
}

void ClusterMap::SplitSlotsEvenly() {
  slots_.assign(ClusterState::kSlots, SlotState{});
  for (size_t slot = 0; slot < slots_.size(); ++slot) {
    slots_[slot].group = static_cast<uint16_t>(slot * groups_.size() / ClusterState::kSlots);
  }
}

uint16_t ClusterMap::GroupIndex(const std::string& name) const {
  for (size_t i = 0; i < groups_.size(); ++i) {
    if (groups_[i].name == name) {
      return static_cast<uint16_t>(i);
    }
  }
  return SlotState::kNoGroup;
}

base::Status ClusterMap::BeginMove(const std::vector<uint32_t>& slots, const std::string& target) {
  const uint16_t to = GroupIndex(target);
  if (to == SlotState::kNoGroup) {
    return base::NotFound("no group " + target);
  }
  for (uint32_t slot : slots) {
    if (slot >= slots_.size()) {
      return base::InvalidArgument("no slot " + std::to_string(slot));
    }
    if (slots_[slot].target != SlotState::kNoGroup) {
      return base::Conflict("slot " + std::to_string(slot) + " is moving already");
    }
    if (slots_[slot].group == to) {
      return base::Conflict("slot " + std::to_string(slot) + " is served by " + target);
    }
  }
  Touch();
  for (uint32_t slot : slots) {
    slots_[slot].target = to;
    slots_[slot].phase = MovePhase::kPrepare;
    slots_[slot].since = version_;
  }
  return {};
}

void ClusterMap::AdvanceMove(const std::vector<uint32_t>& slots) {
  Touch();
  for (uint32_t slot : slots) {
    SlotState& state = slots_[slot];
    if (state.phase == MovePhase::kPrepare) {
      state.phase = MovePhase::kDual;
      state.since = version_;  // Writes go to the target from this version on.
    } else {
      state.group = state.target;  // Writes went there already: `since` stays.
      state.target = SlotState::kNoGroup;
      state.phase = MovePhase::kPrepare;
    }
  }
}

base::Status ClusterMap::RemoveGroup(const std::string& name) {
  const uint16_t index = GroupIndex(name);
  if (index == SlotState::kNoGroup) {
    return base::NotFound("no group " + name);
  }
  size_t serves = 0;
  for (const SlotState& slot : slots_) {
    if (slot.target == index) {
      return base::Conflict("group " + name + " has slots moving to it");
    }
    serves += slot.group == index ? 1 : 0;
  }
  if (serves > 0) {
    return base::Conflict("group " + name + " still serves " + std::to_string(serves) +
                          " slots: drain it first (trellis cluster drain " + name + ")");
  }
  Touch();
  groups_.erase(groups_.begin() + index);
  std::erase_if(nodes_, [&name](const NodeInfo& node) { return node.group == name; });
  for (SlotState& slot : slots_) {
    slot.group -= slot.group > index ? 1 : 0;
    if (slot.target != SlotState::kNoGroup && slot.target > index) {
      --slot.target;
    }
  }
  return {};
}

void ClusterMap::SetMoveRate(uint64_t rate) {
  if (rate != move_rate_) {
    move_rate_ = rate;
    Touch();
  }
}

base::Result<Role> ClusterMap::RegisterNode(const std::string& group, const std::string& address) {
  if (FindGroup(group) == nullptr) {
    return base::NotFound("no group " + group);
  }
  if (NodeInfo* node = FindNode(address)) {
    if (node->group != group) {
      return base::Conflict(address + " is in group " + node->group);
    }
    node->healthy = true;
    node->failed_probes = 0;
    node->sequence = 0;
    if (node->role == Role::kMain) {
      // A node registers when it starts, so this main restarted and lost its items
      // (quicker than the probes noticed): its backup, if it has one, has them.
      (void)Promote(group);
    }
    return node->role;
  }
  const Role role = MainOf(group) == nullptr ? Role::kMain : Role::kBackup;
  nodes_.push_back({address, group, role});
  Touch();
  return role;
}

base::Status ClusterMap::RemoveNode(const std::string& address) {
  auto it = std::find_if(nodes_.begin(), nodes_.end(),
                         [&](const NodeInfo& node) { return node.address == address; });
  if (it == nodes_.end()) {
    return base::NotFound("no node " + address);
  }
  const bool was_main = it->role == Role::kMain;
  const std::string group = it->group;
  nodes_.erase(it);
  Touch();
  if (was_main) {
    (void)Promote(group);  // A group without a main answers SERVER_ERROR until one joins.
  }
  return {};
}

base::Status ClusterMap::SetMode(const std::string& group, bool sync) {
  for (GroupInfo& info : groups_) {
    if (info.name == group) {
      info.sync = sync;
      Touch();
      return {};
    }
  }
  return base::NotFound("no group " + group);
}

void ClusterMap::SetFrozen(const std::string& group, bool frozen) {
  for (GroupInfo& info : groups_) {
    if (info.name == group && info.frozen != frozen) {
      info.frozen = frozen;
      Touch();
    }
  }
}

base::Result<std::string> ClusterMap::Promote(const std::string& group) {
  NodeInfo* best = nullptr;
  for (NodeInfo& node : nodes_) {
    if (node.group == group && node.role == Role::kBackup && node.healthy &&
        (best == nullptr || node.sequence > best->sequence)) {
      best = &node;
    }
  }
  if (best == nullptr) {
    return base::Conflict("group " + group + " has no healthy backup");
  }
  for (NodeInfo& node : nodes_) {
    if (node.group == group && node.role == Role::kMain) {
      node.role = Role::kBackup;
    }
  }
  best->role = Role::kMain;
  for (GroupInfo& info : groups_) {
    if (info.name == group) {
      ++info.epoch;
      info.frozen = false;
    }
  }
  Touch();
  return best->address;
}

const TenantState* ClusterMap::FindTenant(const std::string& name) const {
  const auto it = std::ranges::find(tenants_, name, &TenantState::name);
  return it == tenants_.end() ? nullptr : &*it;
}

base::Result<TenantState> ClusterMap::AddTenant(const TenantRequest& request,
                                                std::string password_sha256) {
  if (!IsTenantName(request.name)) {
    return base::InvalidArgument("tenant names are 1-32 of a-z, 0-9, '_' and '-'");
  }
  if (FindTenant(request.name) != nullptr) {
    return base::Conflict("tenant " + request.name + " exists");
  }
  TenantState tenant{request.name,         next_tenant_id_++,      0,
                     request.memory_bytes, request.ops_per_second, std::move(password_sha256)};
  const auto at = std::lower_bound(
      tenants_.begin(), tenants_.end(), tenant.name,
      [](const TenantState& other, const std::string& name) { return other.name < name; });
  tenants_.insert(at, tenant);
  Touch();
  return tenant;
}

base::Status ClusterMap::RemoveTenant(const std::string& name) {
  if (std::erase_if(tenants_, [&name](const TenantState& tenant) { return tenant.name == name; }) ==
      0) {
    return base::NotFound("no tenant " + name);
  }
  Touch();
  return {};
}

base::Result<uint64_t> ClusterMap::FlushTenant(const std::string& name) {
  const auto it = std::ranges::find(tenants_, name, &TenantState::name);
  if (it == tenants_.end()) {
    return base::NotFound("no tenant " + name);
  }
  Touch();
  return ++it->generation;
}

ClusterState ClusterMap::ToState(std::chrono::milliseconds lease) const {
  ClusterState state;
  state.version = version_;
  state.lease = lease;
  for (const GroupInfo& group : groups_) {
    GroupState& out = state.groups.emplace_back();
    out.name = group.name;
    out.epoch = group.epoch;
    out.mode = group.sync ? WriteMode::kSync : WriteMode::kAsync;
    out.frozen = group.frozen;
    const NodeInfo* main = MainOf(group.name);
    if (main != nullptr) {
      out.main = main->address;
    }
    for (const NodeInfo& node : nodes_) {
      if (node.group != group.name) {
        continue;
      }
      NodeState& member = out.nodes.emplace_back();
      member.address = node.address;
      member.role = node.role;
      member.healthy = node.healthy;
      member.sequence = node.sequence;
      member.pid = node.pid;
      member.items = node.items;
      member.bytes = node.bytes;
      const bool behind =
          node.role == Role::kBackup && main != nullptr && main->sequence > node.sequence;
      member.lag = behind ? main->sequence - node.sequence : 0;
      if (node.role == Role::kMain) {
        member.lag_ms = 0;
      } else if (node.lag_ms >= 0) {
        member.lag_ms = node.lag_ms;
      }
    }
  }
  state.slot_ranges = SlotRanges();
  state.move_rate = move_rate_;
  state.tenants = tenants_;
  return state;
}

std::vector<SlotRange> ClusterMap::SlotRanges() const {
  std::vector<SlotRange> ranges;
  for (uint32_t slot = 0; slot < slots_.size(); ++slot) {
    const SlotState& state = slots_[slot];
    if (slot == 0 || state != slots_[slot - 1]) {
      SlotRange& range = ranges.emplace_back();
      range.first = slot;
      range.group = groups_[state.group].name;
      range.since = state.since;
      if (state.target != SlotState::kNoGroup) {
        range.target = groups_[state.target].name;
        range.phase = state.phase;
      }
    }
    ranges.back().last = slot;
  }
  return ranges;
}

base::Result<ClusterMap> ClusterMap::Restore(uint64_t version, std::vector<GroupInfo> groups,
                                             std::vector<NodeInfo> nodes,
                                             const std::vector<SlotRange>& slots,
                                             std::vector<TenantState> tenants,
                                             uint64_t next_tenant_id) {
  ClusterMap map;
  map.version_ = version;
  map.groups_ = std::move(groups);
  map.nodes_ = std::move(nodes);
  map.tenants_ = std::move(tenants);
  std::sort(map.tenants_.begin(), map.tenants_.end(),
            [](const TenantState& a, const TenantState& b) { return a.name < b.name; });
  map.next_tenant_id_ = std::max<uint64_t>(next_tenant_id, 1);
  for (const TenantState& tenant : map.tenants_) {
    map.next_tenant_id_ = std::max(map.next_tenant_id_, tenant.id + 1);
  }
  if (slots.empty()) {
    if (!map.groups_.empty()) {
      map.SplitSlotsEvenly();
    }
    return map;
  }
  TRELLIS_TRY_STATUS(CheckSlotRanges(
      slots,
      [&](std::string_view name) {
        return map.GroupIndex(std::string(name)) != SlotState::kNoGroup;
      },
      !map.groups_.empty()));
  for (const SlotRange& range : slots) {
    SlotState state;
    state.group = map.GroupIndex(range.group);
    state.target = range.target ? map.GroupIndex(*range.target) : SlotState::kNoGroup;
    state.phase = range.phase;
    state.since = range.since;
    map.slots_.insert(map.slots_.end(), range.last - range.first + 1, state);
  }
  return map;
}

}  // namespace trellis::master
