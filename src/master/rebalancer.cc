#include "master/rebalancer.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

namespace trellis::master {

namespace {

int64_t UnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Whether every healthy node of `group` holds map version `version` or a later one, and
// the group has a main.
bool GroupHolds(const ClusterMap& map, const std::string& group, uint64_t version) {
  if (map.MainOf(group) == nullptr) {
    return false;
  }
  return std::all_of(map.nodes().begin(), map.nodes().end(), [&](const NodeInfo& node) {
    return node.group != group || !node.healthy || node.map_version >= version;
  });
}

}  // namespace

void Rebalancer::Start(std::vector<PendingMove> moves, uint64_t max_rate,
                       std::vector<std::string> draining) {
  planned_.clear();
  items_total_ = 0;
  bytes_total_ = 0;
  for (const PendingMove& move : moves) {
    planned_[move.slot] = move.load;
    items_total_ += move.load.items;
    bytes_total_ += move.load.bytes;
  }
  pending_.assign(moves.begin(), moves.end());
  max_rate_ = max_rate;
  draining_ = std::move(draining);
  started_ms_ = UnixMillis();
  finished_ms_ = 0;
  error_.reset();
  ++record_revision_;
}

bool Rebalancer::Active(const ClusterMap& map) const {
  return !pending_.empty() ||
         std::any_of(map.slots().begin(), map.slots().end(),
                     [](const SlotState& slot) { return slot.target != SlotState::kNoGroup; });
}

bool Rebalancer::Step(ClusterMap& map, const SlotLoads& loads) {
  const uint64_t version_before = map.version();
  const std::vector<SlotState>& slots = map.slots();
  const auto& groups = map.groups();
  // Dual -> done: the source holds nothing of the slot any more. In batches of an eighth
  // of the slots in the dual step (or all of them): each new map costs every node a parse
  // of it, and a step per emptied slot made 10 maps a second while a move ran.
  std::vector<uint32_t> emptied;
  size_t dual = 0;
  for (uint32_t slot = 0; slot < slots.size(); ++slot) {
    if (slots[slot].target != SlotState::kNoGroup && slots[slot].phase == MovePhase::kDual) {
      ++dual;
      if (slot < loads.size() && loads[slot] && loads[slot]->items == 0) {
        emptied.push_back(slot);
      }
    }
  }
  if (!emptied.empty() && (emptied.size() == dual || emptied.size() * kDoneBatchDivisor >= dual)) {
    map.AdvanceMove(emptied);
  }
  StartDual(map);
  // The next planned slots, up to kMaxMovingSlots moving.
  size_t moving = std::count_if(slots.begin(), slots.end(), [](const SlotState& slot) {
    return slot.target != SlotState::kNoGroup;
  });
  std::map<std::string, std::vector<uint32_t>> beginning;
  std::set<uint32_t> chosen;
  while (moving < kMaxMovingSlots && !pending_.empty()) {
    const PendingMove move = pending_.front();
    pending_.pop_front();
    if (map.FindGroup(move.target) == nullptr) {
      error_ = "group " + move.target + " was removed during the move";
      pending_.clear();
      ++record_revision_;
      break;
    }
    const SlotState& state = slots[move.slot];
    if (state.target != SlotState::kNoGroup || groups[state.group].name == move.target ||
        !chosen.insert(move.slot).second) {
      continue;  // Moving already, or there, or chosen once in this step.
    }
    beginning[move.target].push_back(move.slot);
    ++moving;
  }
  for (const auto& [target, batch] : beginning) {
    (void)map.BeginMove(batch, target);  // Checked above: cannot fail.
  }
  ShareRate(map);
  if (finished_ms_ == 0 && started_ms_ != 0 && !Active(map)) {
    finished_ms_ = UnixMillis();
    ++record_revision_;
  }
  return map.version() != version_before;
}

void Rebalancer::ShareRate(ClusterMap& map) const {
  std::set<uint16_t> sources;
  for (const SlotState& slot : map.slots()) {
    if (slot.target != SlotState::kNoGroup && slot.phase == MovePhase::kDual) {
      sources.insert(slot.group);
    }
  }
  map.SetMoveRate(sources.empty() ? 0 : std::max<uint64_t>(max_rate_ / sources.size(), 1));
}

bool Rebalancer::StartDual(ClusterMap& map) const {
  const uint64_t version_before = map.version();
  const std::vector<SlotState>& slots = map.slots();
  // The slots of one step at a time whose groups hold that step.
  std::map<std::tuple<uint16_t, uint16_t, uint64_t>, std::vector<uint32_t>> prepared;
  for (uint32_t slot = 0; slot < slots.size(); ++slot) {
    const SlotState& state = slots[slot];
    if (state.target != SlotState::kNoGroup && state.phase == MovePhase::kPrepare) {
      prepared[{state.group, state.target, state.since}].push_back(slot);
    }
  }
  // All that may go dual, in one new map: each map is a restart of every mover's walk.
  std::vector<uint32_t> ready;
  for (const auto& [step, batch] : prepared) {
    const auto& [from, to, since] = step;
    if (GroupHolds(map, map.groups()[from].name, since) &&
        GroupHolds(map, map.groups()[to].name, since)) {
      ready.insert(ready.end(), batch.begin(), batch.end());
    }
  }
  if (!ready.empty()) {
    map.AdvanceMove(ready);
  }
  ShareRate(map);  // With the slots that go dual, in the same map.
  return map.version() != version_before;
}

MigrationStatus Rebalancer::Status(const ClusterMap& map, const SlotLoads& loads) const {
  MigrationStatus status;
  status.active = Active(map);
  status.max_rate = max_rate_;
  status.slots_total = static_cast<uint32_t>(planned_.size());
  status.keys_total = items_total_;
  status.bytes_total = bytes_total_;
  status.draining = draining_;
  status.error = error_;
  uint64_t items_left = 0;
  uint64_t bytes_left = 0;
  auto count_left = [&](uint32_t slot) {
    const auto planned = planned_.find(slot);
    if (slot < loads.size() && loads[slot]) {
      items_left += loads[slot]->items;
      bytes_left += loads[slot]->bytes;
    } else if (planned != planned_.end()) {
      items_left += planned->second.items;
      bytes_left += planned->second.bytes;
    }
  };
  for (const PendingMove& move : pending_) {
    count_left(move.slot);
  }
  for (uint32_t slot = 0; slot < map.slots().size(); ++slot) {
    if (map.slots()[slot].target != SlotState::kNoGroup) {
      ++status.slots_moving;
      count_left(slot);
    }
  }
  const uint64_t not_done = pending_.size() + status.slots_moving;
  status.slots_done = status.slots_total > not_done ? status.slots_total - not_done : 0;
  status.keys_moved = items_total_ > items_left ? items_total_ - items_left : 0;
  status.bytes_moved = bytes_total_ > bytes_left ? bytes_total_ - bytes_left : 0;
  const double seconds =
      static_cast<double>((finished_ms_ != 0 ? finished_ms_ : UnixMillis()) - started_ms_) / 1000.0;
  if (seconds > 0 && started_ms_ != 0) {
    status.keys_per_second = static_cast<double>(status.keys_moved) / seconds;
  }
  if (status.active && status.keys_per_second > 0) {
    status.eta_seconds = static_cast<double>(items_left) / status.keys_per_second;
  }
  return status;
}

nlohmann::json Rebalancer::ToJson() const {
  nlohmann::json pending = nlohmann::json::array();
  for (const PendingMove& move : pending_) {
    pending.push_back({move.slot, move.target, move.load.items, move.load.bytes});
  }
  nlohmann::json planned = nlohmann::json::array();
  for (const auto& [slot, load] : planned_) {
    planned.push_back({slot, load.items, load.bytes});
  }
  nlohmann::json json = {{"pending", pending},        {"planned", planned},
                         {"max_rate", max_rate_},     {"items", items_total_},
                         {"bytes", bytes_total_},     {"draining", draining_},
                         {"started_ms", started_ms_}, {"finished_ms", finished_ms_}};
  if (error_) {
    json["error"] = *error_;
  }
  return json;
}

base::Result<Rebalancer> Rebalancer::FromJson(const nlohmann::json& json) {
  Rebalancer rebalancer;
  try {
    for (const auto& move : json.at("pending")) {
      rebalancer.pending_.push_back(
          {move.at(0).get<uint32_t>(), move.at(1).get<std::string>(),
           SlotLoad{move.at(2).get<uint64_t>(), move.at(3).get<uint64_t>()}});
    }
    for (const auto& slot : json.at("planned")) {
      rebalancer.planned_[slot.at(0).get<uint32_t>()] =
          SlotLoad{slot.at(1).get<uint64_t>(), slot.at(2).get<uint64_t>()};
    }
    rebalancer.max_rate_ = json.at("max_rate").get<uint64_t>();
    rebalancer.items_total_ = json.at("items").get<uint64_t>();
    rebalancer.bytes_total_ = json.at("bytes").get<uint64_t>();
    rebalancer.draining_ = json.at("draining").get<std::vector<std::string>>();
    rebalancer.started_ms_ = json.at("started_ms").get<int64_t>();
    rebalancer.finished_ms_ = json.at("finished_ms").get<int64_t>();
    if (json.contains("error")) {
      rebalancer.error_ = json.at("error").get<std::string>();
    }
  } catch (const nlohmann::json::exception& error) {
    return base::InvalidArgument(std::string("the saved rebalance: ") + error.what());
  }
  for (const PendingMove& move : rebalancer.pending_) {
    if (move.slot >= ClusterState::kSlots) {
      return base::InvalidArgument("the saved rebalance: no slot " + std::to_string(move.slot));
    }
  }
  return rebalancer;
}

}  // namespace trellis::master
