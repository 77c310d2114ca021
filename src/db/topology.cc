#include "db/topology.h"

#include <nlohmann/json.hpp>

namespace trellis::db {

nlohmann::json ToJson(const DbTopology& topology) {
  return {
      {"epoch", topology.epoch}, {"primary", topology.primary}, {"replicas", topology.replicas}};
}

base::Result<DbTopology> ParseDbTopology(const nlohmann::json& json) {
  auto wrong = [](const char* field, const char* expected) {
    return base::InvalidArgument(std::string("db topology: \"") + field + "\" must be " + expected);
  };
  if (!json.is_object()) {
    return base::InvalidArgument("db topology: expected an object");
  }
  DbTopology topology;
  const auto epoch = json.find("epoch");
  if (epoch == json.end() || !epoch->is_number_unsigned()) {
    return wrong("epoch", "a non-negative integer");
  }
  topology.epoch = epoch->get<uint64_t>();
  const auto primary = json.find("primary");
  if (primary == json.end() || !primary->is_string()) {
    return wrong("primary", "a string");
  }
  topology.primary = primary->get<std::string>();
  const auto replicas = json.find("replicas");
  if (replicas == json.end() || !replicas->is_array()) {
    return wrong("replicas", "an array of strings");
  }
  for (const nlohmann::json& replica : *replicas) {
    if (!replica.is_string()) {
      return wrong("replicas", "an array of strings");
    }
    topology.replicas.push_back(replica.get<std::string>());
  }
  return topology;
}

}  // namespace trellis::db
