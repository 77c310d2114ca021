// ApplyGroupPlan: makes a master's map hold the groups a launcher is about to start
// (`trellis up`): adds the groups it lacks and removes the nodes it is not about to start
// (those of an earlier run, on other ports), so that the new nodes take over the groups
// when they register.
//
// Thread safety: blocking; any thread that is not running an io_context.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "base/result.h"
#include "master/client/master_client.h"

namespace trellis::master {

struct GroupPlan {
  std::string name;
  std::vector<std::string> nodes;  // HOST:PORT of each node that will join.
};

// Waits up to `patience` for the master to answer at all.
base::Status ApplyGroupPlan(const MasterAccess& master, const std::vector<GroupPlan>& plan,
                            std::chrono::milliseconds patience);

}  // namespace trellis::master
