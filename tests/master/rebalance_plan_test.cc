// The rebalance planner: even shares with few moves, drained groups emptied, nothing
// moved when the groups are even already.
#include "master/rebalance_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "base/cluster_slot.h"

namespace trellis::master {
namespace {

constexpr uint32_t kSlots = base::kClusterSlots;

// `groups` groups, the first `serving` of them splitting the slots evenly.
RebalanceInput EvenOver(size_t groups, size_t serving) {
  RebalanceInput input;
  input.groups = groups;
  for (uint32_t slot = 0; slot < kSlots; ++slot) {
    input.owners.push_back(static_cast<uint16_t>(slot * serving / kSlots));
  }
  return input;
}

// Each group's slot count once `moves` ran, checking that each move starts where the
// slot is.
std::vector<size_t> SlotsAfter(RebalanceInput input, const std::vector<PlannedMove>& moves) {
  for (const PlannedMove& move : moves) {
    EXPECT_EQ(input.owners[move.slot], move.from) << "slot " << move.slot;
    input.owners[move.slot] = move.to;
  }
  std::vector<size_t> counts(input.groups, 0);
  for (uint16_t owner : input.owners) {
    ++counts[owner];
  }
  return counts;
}

// The number of runs of neighbouring slots with one owner once `moves` ran: what the
// map lists as slot ranges.
size_t RangesAfter(RebalanceInput input, const std::vector<PlannedMove>& moves) {
  for (const PlannedMove& move : moves) {
    input.owners[move.slot] = move.to;
  }
  size_t ranges = 1;
  for (uint32_t slot = 1; slot < kSlots; ++slot) {
    ranges += input.owners[slot] != input.owners[slot - 1] ? 1 : 0;
  }
  return ranges;
}

// Loads as hashed keys give them: about 61 items a slot (a million keys), varying.
std::vector<SlotLoad> HashedLoads() {
  std::vector<SlotLoad> loads;
  uint32_t state = 12345;
  for (uint32_t slot = 0; slot < kSlots; ++slot) {
    state = state * 1103515245 + 12345;
    const uint64_t items = 45 + (state >> 16) % 33;
    loads.push_back({items, items * 64});
  }
  return loads;
}

TEST(RebalancePlanTest, SlotsMoveInRunsOfNeighboursSoTheMapStaysShort) {
  // Scattered moves (the slot of the best weight anywhere) left 3 -> 4 groups with
  // thousands of ranges: a map of 353 KB that every node parsed at every change.
  RebalanceInput input = EvenOver(4, 3);
  input.loads = HashedLoads();
  const std::vector<PlannedMove> moves = PlanRebalance(input);
  const std::vector<size_t> counts = SlotsAfter(input, moves);
  EXPECT_NEAR(static_cast<double>(counts[3]), kSlots / 4, kSlots / 4 / 20);
  EXPECT_LE(RangesAfter(input, moves), 40u);
  input = EvenOver(4, 4);
  input.loads = HashedLoads();
  input.draining = {false, false, true, false};
  const std::vector<PlannedMove> drain = PlanRebalance(input);
  EXPECT_EQ(SlotsAfter(input, drain)[2], 0u);
  EXPECT_LE(RangesAfter(input, drain), 40u);
}

TEST(RebalancePlanTest, TwoNewGroupsOfAnEmptyClusterGetAQuarterOfTheSlotsEach) {
  const RebalanceInput input = EvenOver(4, 2);
  const std::vector<PlannedMove> moves = PlanRebalance(input);
  EXPECT_LE(moves.size(), kSlots / 2) << "none more than needed";
  for (size_t count : SlotsAfter(input, moves)) {
    // Within the planner's tolerance: 1% of a fair share.
    EXPECT_NEAR(static_cast<double>(count), kSlots / 4, kSlots / 4 / 100 + 1);
  }
  std::set<uint32_t> moved;
  for (const PlannedMove& move : moves) {
    EXPECT_TRUE(moved.insert(move.slot).second) << "slot " << move.slot << " moved twice";
    EXPECT_GE(move.to, 2) << "slots only go to the new groups";
  }
}

TEST(RebalancePlanTest, AGroupGetsItsShareOfTheSlotsEvenWhereLittleIsStored) {
  RebalanceInput input = EvenOver(3, 2);
  input.loads.assign(kSlots, SlotLoad{});
  input.loads[5] = {100, 1000};
  input.loads[kSlots - 1] = {100, 1000};
  const std::vector<PlannedMove> moves = PlanRebalance(input);
  const std::vector<size_t> counts = SlotsAfter(input, moves);
  // The two loaded slots stay (either would open the gap it closed elsewhere); group 2
  // gets slots that hold nothing yet, so that what is written next spreads to it too.
  EXPECT_GT(counts[2], kSlots / 4);
  const bool moved_a_loaded_slot =
      std::any_of(moves.begin(), moves.end(),
                  [](const PlannedMove& m) { return m.slot == 5 || m.slot == kSlots - 1; });
  EXPECT_FALSE(moved_a_loaded_slot);
  input.draining = {true, false, false};
  EXPECT_EQ(SlotsAfter(input, PlanRebalance(input))[0], 0u)
      << "a drained group loses every slot, empty or not";
}

TEST(RebalancePlanTest, EvenGroupsNeedNoMove) {
  EXPECT_TRUE(PlanRebalance(EvenOver(3, 3)).empty());
  EXPECT_TRUE(PlanRebalance(EvenOver(1, 1)).empty());
  EXPECT_TRUE(PlanRebalance(RebalanceInput{}).empty());
}

TEST(RebalancePlanTest, ADrainedGroupEndsWithNothingAndTheOthersShareIt) {
  RebalanceInput input = EvenOver(3, 3);
  input.draining = {false, true, false};
  const std::vector<PlannedMove> moves = PlanRebalance(input);
  const std::vector<size_t> counts = SlotsAfter(input, moves);
  EXPECT_EQ(counts[1], 0u);
  EXPECT_LE(std::max(counts[0], counts[2]) - std::min(counts[0], counts[2]), 1u);
  EXPECT_LE(moves.size(), kSlots / 3 + 2) << "only the drained group's slots move";
  std::vector<int> moved(kSlots, 0);
  for (const PlannedMove& move : moves) {
    EXPECT_EQ(++moved[move.slot], 1) << "slot " << move.slot << " moves twice";
    EXPECT_EQ(move.from, input.owners[move.slot]);
  }
  input.draining = {true, true, true};
  EXPECT_TRUE(PlanRebalance(input).empty()) << "nowhere to put them";
}

TEST(RebalancePlanTest, LoadedSlotsAreSpreadByWhatTheyHold) {
  // Two groups; the first group's slots hold ten times what the second's hold.
  RebalanceInput input = EvenOver(2, 2);
  for (uint32_t slot = 0; slot < kSlots; ++slot) {
    const uint64_t items = input.owners[slot] == 0 ? 10 : 1;
    input.loads.push_back({items, items * 100});
  }
  const std::vector<PlannedMove> moves = PlanRebalance(input);
  ASSERT_FALSE(moves.empty());
  uint64_t held[2] = {0, 0};
  std::vector<uint16_t> owners = input.owners;
  for (const PlannedMove& move : moves) {
    owners[move.slot] = move.to;
  }
  for (uint32_t slot = 0; slot < kSlots; ++slot) {
    held[owners[slot]] += input.loads[slot].items;
  }
  // Even within the planner's tolerance (1% of a fair share of the 90,112 items) and one
  // heavy slot (10 items).
  EXPECT_LE(std::max(held[0], held[1]) - std::min(held[0], held[1]), 90112 / 2 / 100 + 10)
      << held[0] << " vs " << held[1];
  EXPECT_LT(moves.size(), kSlots / 2) << "heavy slots move, so fewer than by slot count";
}

}  // namespace
}  // namespace trellis::master
