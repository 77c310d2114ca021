// PlanRebalance: which slots to move, and where, so that the groups hold about the same
// share of the data, with as few moves as it takes; and which, when some groups are
// being drained, moves every slot off them. The master runs the moves it plans
// (docs/scale-out.md); `trellis cluster rebalance --dry-run` prints them.
//
// A slot's weight is its share of the cluster's items plus its share of the bytes (as the
// nodes report them, `stats slots`); in a cluster that holds nothing, its share of the
// slots. A drained group's slots go in slot order to the lightest receiver until it holds
// its fair share, then to the next. Then each step moves, from the heaviest group to the
// lightest, the next slot of the run of neighbours moving between the two, or else the
// slot nearest the heavy group's mean slot weight (starting a run), if it narrows the gap
// between them (weighing at most half of it); planning stops when the gap is within 1% of
// a group's fair share or no slot narrows it. Slots of about the mean weight make the slot
// counts end as even as the data (a group added to two ends with a third of both;
// heaviest-first took 21% of the slots for a third of 100,000 keys, so it would then get
// only 21% of the new keys), at about the same number of moves. Runs keep the map short:
// it lists runs of slots in one state, and slots taken one by one anywhere left 6,000
// ranges after a 3 -> 4 rebalance (a 353 KB map, parsed by every node at every change).
// Then slots that hold nothing even out the number of slots per group (within 1%), which
// leaves the data as it is.
//
// Thread safety: a pure function.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace trellis::master {

// What one slot holds.
struct SlotLoad {
  uint64_t items = 0;
  uint64_t bytes = 0;
};

struct PlannedMove {
  uint32_t slot = 0;
  uint16_t from = 0;  // Group indexes, as in the input.
  uint16_t to = 0;
};

struct RebalanceInput {
  size_t groups = 0;
  std::vector<uint16_t> owners;  // The group index serving each slot.
  std::vector<SlotLoad> loads;   // Each slot's load, or empty when nothing is known.
  std::vector<bool> draining;    // Per group: must end with no slot (empty: none).
};

// The moves, in the order to run them. Groups with `draining` get no slot and lose all
// of theirs; with every group draining, or no group, there is nothing to plan.
// REQUIRES: owners[s] < groups; loads empty or the size of owners.
std::vector<PlannedMove> PlanRebalance(const RebalanceInput& input);

}  // namespace trellis::master
