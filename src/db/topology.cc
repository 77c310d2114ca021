#include "db/topology.h"

#include <nlohmann/json.hpp>

namespace trellis::db {

nlohmann::json ToJson(const DbTopology& topology) {
  nlohmann::json replicas = nlohmann::json::array();
  for (const DbReplica& replica : topology.replicas) {
    nlohmann::json lag = nullptr;
    if (replica.lag_seconds) {
      lag = *replica.lag_seconds;
    }
    replicas.push_back(
        {{"address", replica.address}, {"position", replica.position}, {"lag_seconds", lag}});
  }
  return {{"epoch", topology.epoch}, {"primary", topology.primary}, {"replicas", replicas}};
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
  const char* const replica_shape =
      "an array of {\"address\": string, \"position\": string, \"lag_seconds\": "
      "non-negative integer or null}";
  if (replicas == json.end() || !replicas->is_array()) {
    return wrong("replicas", replica_shape);
  }
  for (const nlohmann::json& replica : *replicas) {
    if (!replica.is_object()) {
      return wrong("replicas", replica_shape);
    }
    const auto address = replica.find("address");
    const auto position = replica.find("position");
    const auto lag = replica.find("lag_seconds");
    if (address == replica.end() || !address->is_string() || position == replica.end() ||
        !position->is_string() || lag == replica.end() ||
        !(lag->is_null() || lag->is_number_unsigned())) {
      return wrong("replicas", replica_shape);
    }
    DbReplica& added = topology.replicas.emplace_back();
    added.address = address->get<std::string>();
    added.position = position->get<std::string>();
    if (!lag->is_null()) {
      added.lag_seconds = lag->get<uint64_t>();
    }
  }
  return topology;
}

nlohmann::json ToJson(const SwitchoverRequest& request) { return {{"to", request.to}}; }

base::Result<SwitchoverRequest> ParseSwitchoverRequest(const nlohmann::json& json) {
  const auto to = json.is_object() ? json.find("to") : json.end();
  if (!json.is_object() || to == json.end() || !to->is_string() || to->empty()) {
    return base::InvalidArgument(
        "switchover: expected {\"to\": NAME}, NAME a server of the manager's file");
  }
  return SwitchoverRequest{to->get<std::string>()};
}

}  // namespace trellis::db
