#include "master/rebalance_plan.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <optional>
#include <set>

namespace trellis::master {

namespace {

// Each slot's weight: its share of the items and of the bytes, or of the slots when the
// cluster holds nothing.
std::vector<double> Weights(const RebalanceInput& input) {
  const size_t slots = input.owners.size();
  uint64_t items = 0;
  uint64_t bytes = 0;
  for (const SlotLoad& load : input.loads) {
    items += load.items;
    bytes += load.bytes;
  }
  if (items == 0 && bytes == 0) {
    return std::vector<double>(slots, 1.0 / static_cast<double>(slots));
  }
  std::vector<double> weights(slots, 0.0);
  for (size_t slot = 0; slot < input.loads.size(); ++slot) {
    if (items > 0) {
      weights[slot] += static_cast<double>(input.loads[slot].items) / static_cast<double>(items);
    }
    if (bytes > 0) {
      weights[slot] += static_cast<double>(input.loads[slot].bytes) / static_cast<double>(bytes);
    }
  }
  return weights;
}

// A slot moved twice while planning (off a drained group, then to even out) moves once,
// from where it is to where it ends, in the order of its first move.
std::vector<PlannedMove> OneMovePerSlot(const RebalanceInput& input,
                                        const std::vector<PlannedMove>& moves) {
  std::vector<uint16_t> final_owner = input.owners;
  for (const PlannedMove& move : moves) {
    final_owner[move.slot] = move.to;
  }
  std::vector<PlannedMove> once;
  std::vector<bool> seen(input.owners.size(), false);
  for (const PlannedMove& move : moves) {
    if (!seen[move.slot] && final_owner[move.slot] != input.owners[move.slot]) {
      seen[move.slot] = true;
      once.push_back({move.slot, input.owners[move.slot], final_owner[move.slot]});
    }
  }
  return once;
}

bool Draining(const RebalanceInput& input, size_t group) {
  return group < input.draining.size() && input.draining[group];
}

}  // namespace

std::vector<PlannedMove> PlanRebalance(const RebalanceInput& input) {
  std::vector<PlannedMove> moves;
  std::vector<size_t> receivers;
  for (size_t group = 0; group < input.groups; ++group) {
    if (!Draining(input, group)) {
      receivers.push_back(group);
    }
  }
  if (receivers.empty()) {
    return moves;
  }
  const std::vector<double> weights = Weights(input);
  // Each group's slots, heaviest first (weight, then slot number for a stable plan).
  using Entry = std::pair<double, uint32_t>;
  std::vector<std::set<Entry, std::greater<>>> held(input.groups);
  std::vector<double> load(input.groups, 0.0);
  std::vector<size_t> loaded(input.groups, 0);  // Slots that weigh something.
  for (uint32_t slot = 0; slot < input.owners.size(); ++slot) {
    held[input.owners[slot]].emplace(weights[slot], slot);
    load[input.owners[slot]] += weights[slot];
    loaded[input.owners[slot]] += weights[slot] > 0 ? 1 : 0;
  }
  auto lightest = [&] {
    return *std::min_element(receivers.begin(), receivers.end(),
                             [&](size_t a, size_t b) { return load[a] < load[b]; });
  };
  std::vector<uint16_t> owners = input.owners;
  // Per (from, to): the run of neighbouring slots moved so far, [first, last].
  std::map<std::pair<size_t, size_t>, std::pair<uint32_t, uint32_t>> runs;
  auto move = [&](size_t from, size_t to, std::set<Entry, std::greater<>>::iterator it) {
    const auto [weight, slot] = *it;
    auto [run, fresh] = runs.try_emplace({from, to}, slot, slot);
    auto& [first, last] = run->second;
    if (!fresh && slot + 1 == first) {
      first = slot;
    } else if (!fresh && slot == last + 1) {
      last = slot;
    } else {
      run->second = {slot, slot};
    }
    owners[slot] = static_cast<uint16_t>(to);
    held[from].erase(it);
    held[to].emplace(weight, slot);
    load[from] -= weight;
    load[to] += weight;
    loaded[from] -= weight > 0 ? 1 : 0;
    loaded[to] += weight > 0 ? 1 : 0;
    moves.push_back({slot, static_cast<uint16_t>(from), static_cast<uint16_t>(to)});
  };
  // The next slot of the run moving from `from` to `to`, if it is `from`'s and weighs
  // something but no more than `limit`.
  auto next_of_run = [&](size_t from, size_t to,
                         double limit) -> std::optional<std::set<Entry, std::greater<>>::iterator> {
    const auto run = runs.find({from, to});
    if (run == runs.end()) {
      return std::nullopt;
    }
    const auto [first, last] = run->second;
    for (const int64_t slot : {int64_t{last} + 1, int64_t{first} - 1}) {
      if (slot >= 0 && slot < static_cast<int64_t>(owners.size()) && owners[slot] == from &&
          weights[slot] > 0 && weights[slot] <= limit) {
        return held[from].find({weights[slot], static_cast<uint32_t>(slot)});
      }
    }
    return std::nullopt;
  };
  double total = 0;
  for (double weight : weights) {
    total += weight;
  }
  const double fair_share = total / static_cast<double>(receivers.size());
  // Drained groups first: their slots in slot order, to the lightest receiver until it
  // holds its fair share, then to the next lightest.
  for (size_t group = 0; group < input.groups; ++group) {
    if (!Draining(input, group)) {
      continue;
    }
    size_t to = lightest();
    for (uint32_t slot = 0; slot < owners.size(); ++slot) {
      if (owners[slot] == group) {
        to = load[to] < fair_share ? to : lightest();
        move(group, to, held[group].find({weights[slot], slot}));
      }
    }
  }
  // Then even out: from the heaviest receiver to the lightest, the next slot of the run
  // between them or else the slot nearest the mean weight that narrows the gap, until the
  // gap is within the tolerance or no slot narrows it.
  const double tolerance = fair_share / 100;
  for (;;) {
    const size_t heavy = *std::max_element(receivers.begin(), receivers.end(),
                                           [&](size_t a, size_t b) { return load[a] < load[b]; });
    const size_t light = lightest();
    const double gap = load[heavy] - load[light];
    // The slot nearest the mean weight of the heavy group's loaded slots that is not
    // heavier than half the gap (the set is ordered heaviest first): slots of typical weight leave
    // the slot counts as even as the data, so that keys written later spread evenly too.
    const double mean = load[heavy] / static_cast<double>(std::max<size_t>(loaded[heavy], 1));
    auto it = held[heavy].lower_bound({std::min(gap / 2, mean), UINT32_MAX});
    // The one just above instead, if it is nearer to the mean (or this one weighs nothing)
    // and still fits.
    if (it != held[heavy].begin()) {
      const auto above = std::prev(it);
      if (above->first <= gap / 2 &&
          (it == held[heavy].end() || it->first <= 0 || above->first - mean < mean - it->first)) {
        it = above;
      }
    }
    if (gap <= tolerance || it == held[heavy].end() || it->first <= 0) {
      break;
    }
    move(heavy, light, next_of_run(heavy, light, gap / 2).value_or(it));
  }
  // Last, slots that hold nothing even out the number of slots (the data stays as even
  // as it is), so that what is written next spreads over the groups too.
  const size_t count_tolerance = std::max<size_t>(1, input.owners.size() / receivers.size() / 100);
  for (;;) {
    const size_t fewest =
        *std::min_element(receivers.begin(), receivers.end(),
                          [&](size_t a, size_t b) { return held[a].size() < held[b].size(); });
    size_t most = fewest;
    for (size_t group : receivers) {
      // Empty slots sort last; weight 0 means the slot holds nothing.
      if (!held[group].empty() && held[group].rbegin()->first <= 0 &&
          held[group].size() > held[most].size()) {
        most = group;
      }
    }
    if (held[most].size() <= held[fewest].size() + count_tolerance) {
      return OneMovePerSlot(input, moves);
    }
    move(most, fewest, std::prev(held[most].end()));
  }
}

}  // namespace trellis::master
