#include "db/failover_plan.h"

#include <fmt/format.h>

namespace trellis::db {
namespace {

bool Serving(const ClusterView& view, size_t i) {
  return view.instances[i].answers && !view.instances[i].read_only;
}

// Makes every other server that answers follow `primary`, unless it does (or stopped
// following it on an error, or with one thread stopped on purpose).
void FollowPrimary(const ClusterView& view, size_t primary, ClusterPlan& plan) {
  for (size_t i = 0; i < view.instances.size(); ++i) {
    const InstanceView& instance = view.instances[i];
    if (i == primary || !instance.answers) {
      continue;
    }
    const bool follows = instance.read_only && instance.source == view.addresses[primary];
    const bool stopped = !instance.fetching && !instance.applying;
    if (!follows || (stopped && instance.replication_error.empty())) {
      plan.actions.push_back({ActionKind::kFollow, i});
    }
  }
}

// The server to promote: the most transactions, then not the lost primary, then the
// first. nullopt when none answers.
std::optional<size_t> MostAdvanced(const ClusterView& view) {
  std::optional<size_t> best;
  for (size_t i = 0; i < view.instances.size(); ++i) {
    if (!view.instances[i].answers) {
      continue;
    }
    if (!best) {
      best = i;
      continue;
    }
    const uint64_t total = view.instances[i].position.Total();
    const uint64_t best_total = view.instances[*best].position.Total();
    if (total > best_total || (total == best_total && *best == view.primary)) {
      best = i;
    }
  }
  return best;
}

}  // namespace

ClusterPlan PlanCluster(const ClusterView& view) {
  ClusterPlan plan;
  plan.primary = view.primary;
  if (view.primary && Serving(view, *view.primary)) {
    FollowPrimary(view, *view.primary, plan);
    return plan;
  }
  if (!view.primary && !view.primary_lost) {
    // The first choice waits for every server, so that it sees every position.
    for (const InstanceView& instance : view.instances) {
      if (!instance.answers) {
        return plan;
      }
    }
  } else if (!view.primary_lost) {
    return plan;  // Not yet: it may be back within the delay.
  }
  const std::optional<size_t> best = MostAdvanced(view);
  if (!best) {
    plan.refusal = "no MariaDB server answers";
    return plan;
  }
  const InstanceView& chosen = view.instances[*best];
  if (view.primary && *best != *view.primary && !view.primary_last_semi_sync &&
      !chosen.position.Covers(view.primary_last_position)) {
    plan.refusal = fmt::format(
        "not promoting {}: it has {}, and the lost primary {} had {} while not "
        "semi-synchronous (no replica had to acknowledge its commits); waiting for it to return",
        view.addresses[*best], FormatGtidPosition(chosen.position), view.addresses[*view.primary],
        FormatGtidPosition(view.primary_last_position));
    return plan;
  }
  plan.primary = *best;
  plan.actions.push_back({ActionKind::kPromote, *best});
  FollowPrimary(view, *best, plan);
  return plan;
}

}  // namespace trellis::db
