#include "access/route_table.h"

#include "net/address.h"

namespace trellis::access {

RouteTable RouteTable::Even(std::vector<GroupRoute> groups, uint64_t version) {
  std::vector<uint16_t> slot_groups(kSlots);
  for (size_t slot = 0; slot < kSlots; ++slot) {
    slot_groups[slot] = static_cast<uint16_t>(slot * groups.size() / kSlots);
  }
  return WithSlots(std::move(groups), std::move(slot_groups), version);
}

RouteTable RouteTable::WithSlots(std::vector<GroupRoute> groups, std::vector<uint16_t> slot_groups,
                                 uint64_t version) {
  RouteTable table;
  table.groups_ = std::move(groups);
  table.slot_group_ = std::move(slot_groups);
  table.version_ = version;
  return table;
}

RouteTable RouteTable::OfMap(std::vector<GroupRoute> groups, std::vector<uint16_t> slot_groups,
                             std::vector<uint16_t> dual_sources, uint64_t version) {
  RouteTable table = WithSlots(std::move(groups), std::move(slot_groups), version);
  table.dual_source_ = std::move(dual_sources);
  table.versioned_ = true;
  return table;
}

base::Result<GroupRoute> RouteTable::ParseGroup(std::string_view spec) {
  const size_t equals = spec.find('=');
  if (equals == std::string_view::npos || equals == 0 || equals + 1 == spec.size()) {
    return base::InvalidArgument("group '" + std::string(spec) +
                                 "': expected NAME=HOST:PORT[,HOST:PORT...]");
  }
  GroupRoute group;
  group.name = std::string(spec.substr(0, equals));
  std::string_view nodes = spec.substr(equals + 1);
  while (!nodes.empty()) {
    const size_t comma = nodes.find(',');
    const std::string_view node = nodes.substr(0, comma);
    nodes = comma == std::string_view::npos ? std::string_view() : nodes.substr(comma + 1);
    auto address = net::ParseHostPort(node);
    if (!address) {
      return base::InvalidArgument("group " + group.name + ": " + address.error().message);
    }
    auto endpoint = net::Resolve(*address);
    if (!endpoint) {
      return base::InvalidArgument("group " + group.name + ": " + endpoint.error().message);
    }
    if (!group.main) {
      group.main = *endpoint;
    } else {
      group.backups.push_back(*endpoint);
    }
  }
  return group;
}

}  // namespace trellis::access
