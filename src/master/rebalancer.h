// Rebalancer: runs a rebalance or a drain on the master: the slot moves planned for it
// (rebalance_plan.h) go through the steps of docs/scale-out.md a batch at a time.
// Each Step() looks at the map and at what the source groups' mains hold of each slot
// and takes every move that may go on one step further:
//   - prepare -> dual once every healthy node of both groups holds the prepare version
//     (NodeInfo::map_version, from their long-polls), so the source refuses what it
//     cannot place and the target keeps tombstones before any access node routes dual;
//   - dual -> done once the source's main holds no key of the slot (the mover copied
//     and deleted them all);
//   - and while fewer than kMaxMovingSlots are moving, the next planned slots begin.
// It also shares the rate among the groups moving keys (ClusterMap::SetMoveRate).
//
// Its record (the moves not begun yet, the totals, the rate) is what the master saves
// so that a restarted master goes on where it stopped; the moves already begun are in
// the map (see ToJson).
//
// Thread safety: none; the master's thread. Pure logic: the master does the probing.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/result.h"
#include "master/client/cluster_state.h"
#include "master/cluster_map.h"
#include "master/rebalance_plan.h"

namespace trellis::master {

struct PendingMove {
  uint32_t slot = 0;
  std::string target;
  SlotLoad load;  // What the slot held when planned.
};

class Rebalancer {
 public:
  // Keys a second over the whole cluster unless the operator says otherwise: a million
  // small items move in under a minute (bench/RESULTS.md, "Scale-out").
  static constexpr uint64_t kDefaultRate = 20'000;
  // Slots moving at once: enough to keep every mover busy while a batch's last slots
  // finish, few enough that dual routing touches a small part (1/32) of the keys (with
  // 2048, throughput during a move was 0.78-0.80 of before, with 512 0.82-0.85: reads
  // that miss on the target read the source, and requests wait while their slots enter
  // dual routing).
  static constexpr size_t kMaxMovingSlots = 512;
  // Emptied slots end their move together once they are 1/kDoneBatchDivisor of those in
  // the dual step, or all of them (Step).
  static constexpr size_t kDoneBatchDivisor = 8;

  // Starts moving `moves` (replacing the moves not begun of an earlier run).
  void Start(std::vector<PendingMove> moves, uint64_t max_rate, std::vector<std::string> draining);

  // What slots hold at their group's main, as far as known (nullopt: unknown). Progress
  // counts a slot whose load is unknown at what it held when planned.
  using SlotLoads = std::vector<std::optional<SlotLoad>>;

  // One step. Returns whether the map changed.
  bool Step(ClusterMap& map, const SlotLoads& loads);
  // Only the prepare -> dual part of a step (the master runs it as soon as a node holds a
  // newer map: clients of a slot in the prepare step wait for it). Returns whether the
  // map changed.
  bool StartDual(ClusterMap& map) const;

  // Whether moves are planned or running (in `map`).
  bool Active(const ClusterMap& map) const;
  MigrationStatus Status(const ClusterMap& map, const SlotLoads& loads) const;
  // The groups the last runs emptied or are emptying (a later rebalance keeps them empty).
  const std::vector<std::string>& draining() const { return draining_; }

  // For the master's store: saved when a run starts, ends or fails (record_revision()
  // goes up then), not as its moves begin. A restarted master's list may hold moves that
  // began since it was saved; Step skips those (their slots move or moved already).
  // Saving the thousands of moves left at every step took half the master's CPU while
  // slots moved.
  nlohmann::json ToJson() const;
  uint64_t record_revision() const { return record_revision_; }
  static base::Result<Rebalancer> FromJson(const nlohmann::json& json);

 private:
  // Sets the map's move rate: the run's, shared by the groups whose slots are dual.
  void ShareRate(ClusterMap& map) const;

  std::deque<PendingMove> pending_;       // Taken from the front, up to kMaxMovingSlots a step.
  std::map<uint32_t, SlotLoad> planned_;  // Every slot of the run, as planned.
  uint64_t max_rate_ = kDefaultRate;
  uint64_t items_total_ = 0;
  uint64_t bytes_total_ = 0;
  std::vector<std::string> draining_;
  int64_t started_ms_ = 0;   // Unix milliseconds.
  int64_t finished_ms_ = 0;  // When the last move ended (0: not yet).
  std::optional<std::string> error_;
  uint64_t record_revision_ = 0;
};

}  // namespace trellis::master
