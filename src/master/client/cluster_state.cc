#include "master/client/cluster_state.h"

#include <algorithm>
#include <functional>
#include <set>

#include <nlohmann/json.hpp>

#include "master/client/field_reader.h"

namespace trellis::master {

using nlohmann::json;

namespace {

// The names of a two-valued enum's values, both ways.
template <typename E>
struct TwoNames {
  E first;
  std::string_view first_name;
  E second;
  std::string_view second_name;

  std::string_view Name(E value) const { return value == first ? first_name : second_name; }
  base::Result<E> Parse(std::string_view name) const {
    if (name == first_name) {
      return first;
    }
    if (name == second_name) {
      return second;
    }
    return base::InvalidArgument("\"" + std::string(first_name) + "\" or \"" +
                                 std::string(second_name) + "\"");
  }
};

constexpr TwoNames<Role> kRoles{Role::kMain, "main", Role::kBackup, "backup"};
constexpr TwoNames<WriteMode> kWriteModes{WriteMode::kAsync, "async", WriteMode::kSync, "sync"};
constexpr TwoNames<MovePhase> kMovePhases{MovePhase::kPrepare, "prepare", MovePhase::kDual, "dual"};

base::Result<Role> ParseRole(std::string_view name) { return kRoles.Parse(name); }

// Reads a whole value with `read`, or the reader's first error.
void ReadNode(FieldReader& in, NodeState* node) {
  in.String("address", &node->address);
  in.Enum("role", &node->role, ParseRole);
  in.Bool("healthy", &node->healthy);
  in.Unsigned("sequence", &node->sequence);
  in.Unsigned("pid", &node->pid);
  in.Unsigned("lag", &node->lag);
  in.OptionalSigned("lag_ms", &node->lag_ms);
  in.Unsigned("items", &node->items);
  in.Unsigned("bytes", &node->bytes);
}

void ReadTransfer(FieldReader& in, PlannedTransfer* transfer) {
  in.String("from", &transfer->from);
  in.String("to", &transfer->to);
  in.SlotCount("slots", &transfer->slots);
  in.Unsigned("items", &transfer->items);
  in.Unsigned("bytes", &transfer->bytes);
}

void ReadGroup(FieldReader& in, GroupState* group) {
  in.String("name", &group->name);
  in.Unsigned("epoch", &group->epoch);
  in.Enum("mode", &group->mode, ParseWriteMode);
  in.Bool("frozen", &group->frozen);
  in.OptionalString("main", &group->main);
  in.Array("nodes", &group->nodes, ReadNode);
}

void ReadSlotRange(FieldReader& in, SlotRange* range) {
  uint64_t first = 0;
  uint64_t last = 0;
  in.Unsigned("first", &first);
  in.Unsigned("last", &last);
  in.String("group", &range->group);
  in.Unsigned("since", &range->since);
  in.OptionalString("target", &range->target);
  if (range->target) {
    in.Enum("phase", &range->phase, ParseMovePhase);
  }
  range->first = static_cast<uint32_t>(std::min<uint64_t>(first, ClusterState::kSlots));
  range->last = static_cast<uint32_t>(std::min<uint64_t>(last, ClusterState::kSlots));
}

void ReadServiceRegistration(FieldReader& in, ServiceRegistration* registration) {
  in.String("name", &registration->name);
  in.String("kind", &registration->kind);
  in.String("url", &registration->url);
  in.String("metrics_url", &registration->metrics_url);
  in.String("summary", &registration->summary);
}

void ReadTokenInfo(FieldReader& in, TokenInfo* info) {
  in.String("id", &info->id);
  in.String("name", &info->name);
  in.Enum("scope", &info->scope, http::ParseScope);
  std::optional<int64_t> created;
  in.OptionalSigned("created_unix", &created);
  info->created_unix = created.value_or(0);
}

// A status is its registration's fields and its age, in one object.
void ReadServiceStatus(FieldReader& in, ServiceStatus* status) {
  ReadServiceRegistration(in, &status->registration);
  in.Number("age_seconds", &status->age_seconds);
}

bool IsSha256Hex(std::string_view text) {
  return text.size() == 64 && text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

constexpr std::string_view kTenantNameRule = "1 to 32 of a-z, 0-9, '_' and '-'";

void ReadTenant(FieldReader& in, TenantState* tenant) {
  in.String("name", &tenant->name, IsTenantName, kTenantNameRule);
  in.Unsigned("id", &tenant->id);
  in.Unsigned("generation", &tenant->generation);
  in.Unsigned("memory_bytes", &tenant->memory_bytes);
  in.Unsigned("ops_per_second", &tenant->ops_per_second);
  in.String("password_sha256", &tenant->password_sha256, IsSha256Hex, "64 lowercase hex digits");
}

void ReadTenantInfo(FieldReader& in, TenantInfo* info) {
  in.String("name", &info->name);
  in.Unsigned("id", &info->id);
  in.Unsigned("generation", &info->generation);
  in.Unsigned("memory_bytes", &info->memory_bytes);
  in.Unsigned("ops_per_second", &info->ops_per_second);
}

// Whether no two of a map's tenants share a name or an id.
base::Status CheckTenants(const std::vector<TenantState>& tenants) {
  std::set<std::string_view> names;
  std::set<uint64_t> ids;
  for (size_t i = 0; i < tenants.size(); ++i) {
    const TenantState& tenant = tenants[i];
    const std::string where = "tenants[" + std::to_string(i) + "]: ";
    if (!names.insert(tenant.name).second) {
      return base::InvalidArgument(where + "a second tenant named " + tenant.name);
    }
    if (!ids.insert(tenant.id).second) {
      return base::InvalidArgument(where + "a second tenant with id " + std::to_string(tenant.id));
    }
  }
  return {};
}

json OptionalJson(const std::optional<std::string>& value) { return value ? json(*value) : json(); }

}  // namespace

base::Status CheckSlotRanges(const std::vector<SlotRange>& ranges,
                             const std::function<bool(std::string_view)>& is_group,
                             bool have_groups) {
  uint32_t next = 0;
  for (size_t i = 0; i < ranges.size(); ++i) {
    const SlotRange& range = ranges[i];
    const std::string where = "slot_ranges[" + std::to_string(i) + "]: ";
    if (range.first != next || range.last < range.first || range.last >= ClusterState::kSlots) {
      return base::InvalidArgument(where + "expected slots from " + std::to_string(next) +
                                   " on, in order, below " + std::to_string(ClusterState::kSlots));
    }
    for (const std::string* group : {&range.group, range.target ? &*range.target : nullptr}) {
      if (group != nullptr && !is_group(*group)) {
        return base::InvalidArgument(where + "no group " + *group + " in the map");
      }
    }
    if (range.target == range.group) {
      return base::InvalidArgument(where + "moving from group " + range.group + " to itself");
    }
    next = range.last + 1;
  }
  if (next != (have_groups ? ClusterState::kSlots : 0)) {
    return base::InvalidArgument("slot_ranges: slots from " + std::to_string(next) +
                                 (have_groups ? " on have no group" : " on, with no groups"));
  }
  return {};
}

std::string_view RoleName(Role role) { return kRoles.Name(role); }

std::string_view MovePhaseName(MovePhase phase) { return kMovePhases.Name(phase); }

base::Result<MovePhase> ParseMovePhase(std::string_view name) { return kMovePhases.Parse(name); }

std::string_view WriteModeName(WriteMode mode) { return kWriteModes.Name(mode); }

base::Result<WriteMode> ParseWriteMode(std::string_view name) { return kWriteModes.Parse(name); }

const NodeState* GroupState::FindNode(std::string_view address) const {
  for (const NodeState& node : nodes) {
    if (node.address == address) {
      return &node;
    }
  }
  return nullptr;
}

const GroupState* ClusterState::FindGroup(std::string_view name) const {
  for (const GroupState& group : groups) {
    if (group.name == name) {
      return &group;
    }
  }
  return nullptr;
}

const TenantState* ClusterState::FindTenant(std::string_view name) const {
  const auto it = std::ranges::find(tenants, name, &TenantState::name);
  return it == tenants.end() ? nullptr : &*it;
}

std::string TenantState::KeyPrefix() const {
  return std::to_string(id) + "." + std::to_string(generation) + ":";
}

bool IsTenantName(std::string_view name) {
  return !name.empty() && name.size() <= 32 &&
         name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") == std::string_view::npos;
}

std::vector<uint16_t> ClusterState::SlotGroups() const {
  std::vector<uint16_t> owners;
  for (const SlotRange& range : slot_ranges) {
    uint16_t index = 0;
    while (index < groups.size() && groups[index].name != range.group) {
      ++index;
    }
    owners.insert(owners.end(), range.last - range.first + 1, index);
  }
  return owners;
}

uint32_t ClusterState::SlotCount(std::string_view group) const {
  uint32_t count = 0;
  for (const SlotRange& range : slot_ranges) {
    if (range.group == group) {
      count += range.last - range.first + 1;
    }
  }
  return count;
}

json ToJson(const ClusterState& map) {
  json groups = json::array();
  for (const GroupState& group : map.groups) {
    json nodes = json::array();
    for (const NodeState& node : group.nodes) {
      nodes.push_back({{"address", node.address},
                       {"role", RoleName(node.role)},
                       {"healthy", node.healthy},
                       {"sequence", node.sequence},
                       {"pid", node.pid},
                       {"lag", node.lag},
                       {"lag_ms", node.lag_ms ? json(*node.lag_ms) : json()},
                       {"items", node.items},
                       {"bytes", node.bytes}});
    }
    groups.push_back({{"name", group.name},
                      {"epoch", group.epoch},
                      {"mode", WriteModeName(group.mode)},
                      {"frozen", group.frozen},
                      {"main", OptionalJson(group.main)},
                      {"nodes", std::move(nodes)}});
  }
  json ranges = json::array();
  for (const SlotRange& range : map.slot_ranges) {
    json out = {{"first", range.first},
                {"last", range.last},
                {"group", range.group},
                {"since", range.since}};
    if (range.target) {
      out["target"] = *range.target;
      out["phase"] = MovePhaseName(range.phase);
    }
    ranges.push_back(std::move(out));
  }
  json tenants = json::array();
  for (const TenantState& tenant : map.tenants) {
    tenants.push_back({{"name", tenant.name},
                       {"id", tenant.id},
                       {"generation", tenant.generation},
                       {"memory_bytes", tenant.memory_bytes},
                       {"ops_per_second", tenant.ops_per_second},
                       {"password_sha256", tenant.password_sha256}});
  }
  return {{"version", map.version},
          {"slots", ClusterState::kSlots},
          {"lease_ms", static_cast<uint64_t>(map.lease.count())},
          {"groups", std::move(groups)},
          {"slot_ranges", std::move(ranges)},
          {"move_rate", map.move_rate},
          {"tenants", std::move(tenants)}};
}

json ToJson(const NodeRegistration& registration) {
  return {{"group", registration.group}, {"address", registration.address}};
}

json ToJson(const RegistrationReply& reply) {
  return {{"role", RoleName(reply.role)},
          {"main", OptionalJson(reply.main)},
          {"epoch", reply.epoch},
          {"version", reply.version}};
}

json ToJson(const NewGroup& group) { return {{"name", group.name}}; }

json ToJson(const ModeChange& change) { return {{"mode", WriteModeName(change.mode)}}; }

json ToJson(const FailoverRequest& request) {
  return request.epoch ? json{{"epoch", *request.epoch}} : json::object();
}

json ToJson(const FailoverReply& reply) {
  return {{"main", reply.main}, {"version", reply.version}};
}

json ToJson(const RebalanceRequest& request) {
  json out = {{"dry_run", request.dry_run}};
  if (request.max_rate) {
    out["max_rate"] = *request.max_rate;
  }
  return out;
}

json ToJson(const RebalanceReply& reply) {
  json transfers = json::array();
  for (const PlannedTransfer& transfer : reply.transfers) {
    transfers.push_back({{"from", transfer.from},
                         {"to", transfer.to},
                         {"slots", transfer.slots},
                         {"items", transfer.items},
                         {"bytes", transfer.bytes}});
  }
  return {{"transfers", std::move(transfers)},
          {"slots", reply.slots},
          {"items", reply.items},
          {"bytes", reply.bytes},
          {"started", reply.started}};
}

json ToJson(const MigrationStatus& status) {
  return {{"active", status.active},
          {"max_rate", status.max_rate},
          {"slots_total", status.slots_total},
          {"slots_done", status.slots_done},
          {"slots_moving", status.slots_moving},
          {"keys_total", status.keys_total},
          {"keys_moved", status.keys_moved},
          {"bytes_total", status.bytes_total},
          {"bytes_moved", status.bytes_moved},
          {"keys_per_second", status.keys_per_second},
          {"eta_seconds", status.eta_seconds ? json(*status.eta_seconds) : json()},
          {"draining", status.draining},
          {"error", OptionalJson(status.error)}};
}

json ToJson(const ServiceRegistration& registration) {
  return {{"name", registration.name},
          {"kind", registration.kind},
          {"url", registration.url},
          {"metrics_url", registration.metrics_url},
          {"summary", registration.summary}};
}

json ToJson(const ServiceStatus& status) {
  json out = ToJson(status.registration);
  out["age_seconds"] = status.age_seconds;
  return out;
}

json ToJson(const ServiceList& list) {
  json services = json::array();
  for (const ServiceStatus& status : list.services) {
    services.push_back(ToJson(status));
  }
  return {{"services", std::move(services)}};
}

json ToJson(const TokenRequest& request) {
  return {{"name", request.name}, {"scope", http::ScopeName(request.scope)}};
}

json ToJson(const TokenInfo& info) {
  return {{"id", info.id},
          {"name", info.name},
          {"scope", http::ScopeName(info.scope)},
          {"created_unix", info.created_unix}};
}

json ToJson(const IssuedToken& issued) {
  json out = ToJson(issued.info);
  out["token"] = issued.token;
  return out;
}

json ToJson(const TokenList& list) {
  json tokens = json::array();
  for (const TokenInfo& info : list.tokens) {
    tokens.push_back(ToJson(info));
  }
  return {{"tokens", std::move(tokens)}};
}

json ToJson(const CallerGrant& grant) {
  json out = ToJson(grant.token);
  out["required"] = grant.required;
  return out;
}

json ToJson(const TenantRequest& request) {
  return {{"name", request.name},
          {"memory_bytes", request.memory_bytes},
          {"ops_per_second", request.ops_per_second}};
}

json ToJson(const TenantInfo& info) {
  return {{"name", info.name},
          {"id", info.id},
          {"generation", info.generation},
          {"memory_bytes", info.memory_bytes},
          {"ops_per_second", info.ops_per_second}};
}

json ToJson(const IssuedTenant& issued) {
  json out = ToJson(issued.info);
  out["password"] = issued.password;
  return out;
}

json ToJson(const TenantList& list) {
  json tenants = json::array();
  for (const TenantInfo& info : list.tenants) {
    tenants.push_back(ToJson(info));
  }
  return {{"tenants", std::move(tenants)}};
}

json ToJson(const TenantFlushed& flushed) {
  return {{"generation", flushed.generation}, {"version", flushed.version}};
}

json ToJson(const StoredMap& stored) {
  return {{"map", ToJson(stored.map)}, {"next_tenant_id", stored.next_tenant_id}};
}

json ToJson(const StoredToken& stored) {
  json out = ToJson(stored.info);
  out["secret_sha256"] = stored.secret_sha256;
  return out;
}

base::Result<ClusterState> ParseClusterState(const json& json_value) {
  uint64_t slots = 0;
  TRELLIS_TRY(ClusterState map,
              ReadWhole<ClusterState>(json_value, [&slots](FieldReader& in, ClusterState* map) {
                uint64_t lease_ms = 0;
                in.Unsigned("version", &map->version);
                in.Unsigned("slots", &slots);
                in.Unsigned("lease_ms", &lease_ms);
                in.Array("groups", &map->groups, ReadGroup);
                in.Array("slot_ranges", &map->slot_ranges, ReadSlotRange);
                in.Unsigned("move_rate", &map->move_rate);
                in.OptionalArray("tenants", &map->tenants, ReadTenant);
                map->lease = std::chrono::milliseconds(lease_ms);
              }));
  if (slots != ClusterState::kSlots) {
    return base::InvalidArgument("slots: expected " + std::to_string(ClusterState::kSlots));
  }
  TRELLIS_TRY_STATUS(CheckSlotRanges(
      map.slot_ranges, [&](std::string_view name) { return map.FindGroup(name) != nullptr; },
      !map.groups.empty()));
  TRELLIS_TRY_STATUS(CheckTenants(map.tenants));
  return map;
}

base::Result<NodeRegistration> ParseNodeRegistration(const json& json_value) {
  return ReadWhole<NodeRegistration>(json_value, [](FieldReader& in, NodeRegistration* value) {
    in.String("group", &value->group);
    in.String("address", &value->address);
  });
}

base::Result<RegistrationReply> ParseRegistrationReply(const json& json_value) {
  return ReadWhole<RegistrationReply>(json_value, [](FieldReader& in, RegistrationReply* value) {
    in.Enum("role", &value->role, ParseRole);
    in.OptionalString("main", &value->main);
    in.Unsigned("epoch", &value->epoch);
    in.Unsigned("version", &value->version);
  });
}

base::Result<NewGroup> ParseNewGroup(const json& json_value) {
  return ReadWhole<NewGroup>(
      json_value, [](FieldReader& in, NewGroup* value) { in.String("name", &value->name); });
}

base::Result<ModeChange> ParseModeChange(const json& json_value) {
  return ReadWhole<ModeChange>(json_value, [](FieldReader& in, ModeChange* value) {
    in.Enum("mode", &value->mode, ParseWriteMode);
  });
}

base::Result<FailoverRequest> ParseFailoverRequest(const json& json_value) {
  return ReadWhole<FailoverRequest>(json_value, [](FieldReader& in, FailoverRequest* value) {
    in.OptionalUnsigned("epoch", &value->epoch);
  });
}

base::Result<FailoverReply> ParseFailoverReply(const json& json_value) {
  return ReadWhole<FailoverReply>(json_value, [](FieldReader& in, FailoverReply* value) {
    in.String("main", &value->main);
    in.Unsigned("version", &value->version);
  });
}

base::Result<RebalanceRequest> ParseRebalanceRequest(const json& json_value) {
  return ReadWhole<RebalanceRequest>(json_value, [](FieldReader& in, RebalanceRequest* value) {
    in.OptionalUnsigned("max_rate", &value->max_rate);
    in.OptionalBool("dry_run", &value->dry_run);
  });
}

base::Result<RebalanceReply> ParseRebalanceReply(const json& json_value) {
  return ReadWhole<RebalanceReply>(json_value, [](FieldReader& in, RebalanceReply* value) {
    in.Array("transfers", &value->transfers, ReadTransfer);
    in.SlotCount("slots", &value->slots);
    in.Unsigned("items", &value->items);
    in.Unsigned("bytes", &value->bytes);
    in.Bool("started", &value->started);
  });
}

base::Result<MigrationStatus> ParseMigrationStatus(const json& json_value) {
  return ReadWhole<MigrationStatus>(json_value, [](FieldReader& in, MigrationStatus* value) {
    in.Bool("active", &value->active);
    in.Unsigned("max_rate", &value->max_rate);
    in.SlotCount("slots_total", &value->slots_total);
    in.SlotCount("slots_done", &value->slots_done);
    in.SlotCount("slots_moving", &value->slots_moving);
    in.Unsigned("keys_total", &value->keys_total);
    in.Unsigned("keys_moved", &value->keys_moved);
    in.Unsigned("bytes_total", &value->bytes_total);
    in.Unsigned("bytes_moved", &value->bytes_moved);
    in.Number("keys_per_second", &value->keys_per_second);
    in.OptionalNumber("eta_seconds", &value->eta_seconds);
    in.Strings("draining", &value->draining);
    in.OptionalString("error", &value->error);
  });
}

base::Result<ServiceRegistration> ParseServiceRegistration(const json& json_value) {
  return ReadWhole<ServiceRegistration>(json_value, ReadServiceRegistration);
}

base::Result<ServiceStatus> ParseServiceStatus(const json& json_value) {
  return ReadWhole<ServiceStatus>(json_value, ReadServiceStatus);
}

base::Result<ServiceList> ParseServiceList(const json& json_value) {
  return ReadWhole<ServiceList>(json_value, [](FieldReader& in, ServiceList* value) {
    in.Array("services", &value->services, ReadServiceStatus);
  });
}

base::Result<TokenRequest> ParseTokenRequest(const json& json_value) {
  return ReadWhole<TokenRequest>(json_value, [](FieldReader& in, TokenRequest* value) {
    in.String("name", &value->name);
    in.Enum("scope", &value->scope, http::ParseScope);
  });
}

base::Result<IssuedToken> ParseIssuedToken(const json& json_value) {
  return ReadWhole<IssuedToken>(json_value, [](FieldReader& in, IssuedToken* value) {
    ReadTokenInfo(in, &value->info);
    in.String("token", &value->token);
  });
}

base::Result<StoredMap> ParseStoredMap(const json& json_value) {
  if (!json_value.is_object() || !json_value.contains("map")) {
    return base::InvalidArgument("a stored map: expected an object with \"map\"");
  }
  TRELLIS_TRY(ClusterState map, ParseClusterState(json_value["map"]));
  TRELLIS_TRY(StoredMap stored,
              ReadWhole<StoredMap>(json_value, [](FieldReader& in, StoredMap* value) {
                in.Unsigned("next_tenant_id", &value->next_tenant_id);
              }));
  stored.map = std::move(map);
  return stored;
}

base::Result<StoredToken> ParseStoredToken(const json& json_value) {
  return ReadWhole<StoredToken>(json_value, [](FieldReader& in, StoredToken* value) {
    ReadTokenInfo(in, &value->info);
    in.String("secret_sha256", &value->secret_sha256, IsSha256Hex, "64 lowercase hex digits");
  });
}

base::Result<TokenList> ParseTokenList(const json& json_value) {
  return ReadWhole<TokenList>(json_value, [](FieldReader& in, TokenList* value) {
    in.Array("tokens", &value->tokens, ReadTokenInfo);
  });
}

base::Result<CallerGrant> ParseCallerGrant(const json& json_value) {
  return ReadWhole<CallerGrant>(json_value, [](FieldReader& in, CallerGrant* value) {
    ReadTokenInfo(in, &value->token);
    in.Bool("required", &value->required);
  });
}

base::Result<TenantRequest> ParseTenantRequest(const json& json_value) {
  return ReadWhole<TenantRequest>(json_value, [](FieldReader& in, TenantRequest* value) {
    // Limits left out are none.
    std::optional<uint64_t> memory_bytes;
    std::optional<uint64_t> ops_per_second;
    in.String("name", &value->name, IsTenantName, kTenantNameRule);
    in.OptionalUnsigned("memory_bytes", &memory_bytes);
    in.OptionalUnsigned("ops_per_second", &ops_per_second);
    value->memory_bytes = memory_bytes.value_or(0);
    value->ops_per_second = ops_per_second.value_or(0);
  });
}

base::Result<IssuedTenant> ParseIssuedTenant(const json& json_value) {
  return ReadWhole<IssuedTenant>(json_value, [](FieldReader& in, IssuedTenant* value) {
    ReadTenantInfo(in, &value->info);
    in.String("password", &value->password);
  });
}

base::Result<TenantList> ParseTenantList(const json& json_value) {
  return ReadWhole<TenantList>(json_value, [](FieldReader& in, TenantList* value) {
    in.Array("tenants", &value->tenants, ReadTenantInfo);
  });
}

base::Result<TenantFlushed> ParseTenantFlushed(const json& json_value) {
  return ReadWhole<TenantFlushed>(json_value, [](FieldReader& in, TenantFlushed* value) {
    in.Unsigned("generation", &value->generation);
    in.Unsigned("version", &value->version);
  });
}

}  // namespace trellis::master
