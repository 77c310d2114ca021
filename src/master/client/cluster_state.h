// The master's API as types: the cluster map that the master publishes and every node,
// `trellis cluster` and `trellis up` read, the request bodies of its operations, and the
// registry of platform services (daemons that are not cache nodes: the backup center, a
// gateway, a monitor) that register with the master to be listed and discovered.
// The master builds these and serialises them once (ToJson); readers parse them once
// (Parse*), getting either a whole, well-typed value or an Error saying which field was
// wrong, so a malformed or version-skewed reply can never take a follower down.
// Fields a reader does not know are ignored (a newer master may add some); a missing
// field or a field of the wrong type is an error.
//
// Thread safety: none; plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/cluster_slot.h"
#include "base/result.h"
#include "http/auth.h"

namespace trellis::master {

enum class Role { kMain, kBackup };
enum class WriteMode { kAsync, kSync };

std::string_view RoleName(Role role);            // "main", "backup"
std::string_view WriteModeName(WriteMode mode);  // "async", "sync"
base::Result<WriteMode> ParseWriteMode(std::string_view name);

// One cache node as the map shows it.
struct NodeState {
  std::string address;  // HOST:PORT of its memcached port: its identity.
  Role role = Role::kBackup;
  bool healthy = true;
  uint64_t sequence = 0;          // A main's log sequence, or what a backup has applied of it.
  uint64_t pid = 0;               // As the node last reported it (0: not yet).
  uint64_t lag = 0;               // A backup's sequence numbers behind its main.
  std::optional<int64_t> lag_ms;  // A backup's heartbeat age; 0 for a main; unknown: none.
  uint64_t items = 0;             // What it holds, as its last probe said (`stats`:
  uint64_t bytes = 0;             // curr_items and bytes); rebalancing weighs groups by these.
};

struct GroupState {
  std::string name;
  uint64_t epoch = 1;  // Goes up at every change of main.
  WriteMode mode = WriteMode::kAsync;
  bool frozen = false;  // During a switchover the main refuses writes.
  std::optional<std::string> main;
  std::vector<NodeState> nodes;

  const NodeState* FindNode(std::string_view address) const;
};

// The step a slot is at in a move from its group to another (docs/scale-out.md):
// prepare (still served by its group, which refuses versioned requests for it), then
// dual (writes go to the target, reads to the target and then the source).
enum class MovePhase { kPrepare, kDual };
std::string_view MovePhaseName(MovePhase phase);  // "prepare", "dual"
base::Result<MovePhase> ParseMovePhase(std::string_view name);

// Slots first..last (inclusive), all in one state.
struct SlotRange {
  uint32_t first = 0;
  uint32_t last = 0;
  std::string group;  // Serves them; while they move, the group they move from.
  // The map version since which their writes go where they go now: a cache node refuses
  // a request for them from an access node that routes by an older map.
  uint64_t since = 0;
  std::optional<std::string> target;      // The group they are moving to, if they are...
  MovePhase phase = MovePhase::kPrepare;  // ...and the step the move is at.
};

// A tenant of the cache (docs/security.md): clients that log in as it on an access node
// started with --auth see only its keys, within its limits. The map carries the SHA-256
// of its password (32 random bytes, hex), so access nodes check logins without asking
// the master; the hash of so random a secret gives no way to log in.
struct TenantState {
  std::string name;             // 1-32 of [a-z0-9_-]: the login's user name.
  uint64_t id = 0;              // Unique in the cluster, never reused.
  uint64_t generation = 0;      // Goes up with each flush_all the tenant sends.
  uint64_t memory_bytes = 0;    // Its memory quota over all groups; 0: none.
  uint64_t ops_per_second = 0;  // Its request rate over all access nodes; 0: no limit.
  std::string password_sha256;  // 64 hex digits.

  // What its keys start with on the cache nodes: "<id>.<generation>:". A flush_all moves
  // the tenant to a new generation, so its old items are never read again and age out.
  std::string KeyPrefix() const;
};

// Whether `name` can name a tenant: 1-32 of [a-z0-9_-].
bool IsTenantName(std::string_view name);

// The cluster map: what `GET /v1/cluster` answers.
struct ClusterState {
  static constexpr uint32_t kSlots = base::kClusterSlots;

  uint64_t version = 0;                // Goes up with every change followers must see.
  std::chrono::milliseconds lease{0};  // How long a main's lease lasts once renewed.
  std::vector<GroupState> groups;
  // Who serves each slot, in slot order: together they cover every slot exactly once,
  // each naming one of `groups` (none while there are no groups). Parsing checks it.
  std::vector<SlotRange> slot_ranges;
  // Keys a second that each group's mover may move now (0 while nothing moves).
  uint64_t move_rate = 0;
  std::vector<TenantState> tenants;  // By name; absent from maps of older masters.

  const GroupState* FindGroup(std::string_view name) const;
  const TenantState* FindTenant(std::string_view name) const;
  // The index in `groups` of each slot's group (kSlots entries; empty without groups).
  std::vector<uint16_t> SlotGroups() const;
  // How many slots `group` serves.
  uint32_t SlotCount(std::string_view group) const;
};

// POST /v1/nodes: a cache node joins a group.
struct NodeRegistration {
  std::string group;
  std::string address;
};

// The answer to a registration: the role the node is given.
struct RegistrationReply {
  Role role = Role::kBackup;
  std::optional<std::string> main;
  uint64_t epoch = 0;
  uint64_t version = 0;
};

// POST /v1/groups.
struct NewGroup {
  std::string name;
};

// POST /v1/groups/NAME/mode.
struct ModeChange {
  WriteMode mode = WriteMode::kAsync;
};

// POST /v1/groups/NAME/failover: with `epoch`, only if the group is still at that epoch
// (its main has not changed since the caller looked), so that two operators, or an
// operator and the master's own failover, never replace one failed main twice.
struct FailoverRequest {
  std::optional<uint64_t> epoch;
};

// POST /v1/groups/NAME/failover answers the new main.
struct FailoverReply {
  std::string main;
  uint64_t version = 0;
};

// POST /v1/rebalance and POST /v1/groups/NAME/drain: moves that even out the groups
// (and empty the drained ones), at most `max_rate` keys a second over the cluster.
struct RebalanceRequest {
  std::optional<uint64_t> max_rate;
  bool dry_run = false;
};

// The planned moves from one group to another. Slot counts here and below are at most
// ClusterState::kSlots: parsing refuses more.
struct PlannedTransfer {
  std::string from;
  std::string to;
  uint32_t slots = 0;
  uint64_t items = 0;
  uint64_t bytes = 0;
};

// The plan; `started` unless a dry run or nothing needs to move.
struct RebalanceReply {
  std::vector<PlannedTransfer> transfers;
  uint32_t slots = 0;
  uint64_t items = 0;
  uint64_t bytes = 0;
  bool started = false;
};

// GET /v1/migrations: the last rebalance or drain, running or done (all zero before the
// first).
struct MigrationStatus {
  bool active = false;
  uint64_t max_rate = 0;  // Keys a second over the cluster.
  uint32_t slots_total = 0;
  uint32_t slots_done = 0;
  uint32_t slots_moving = 0;  // Begun, not done.
  uint64_t keys_total = 0;    // What the planned slots held when planned.
  uint64_t keys_moved = 0;
  uint64_t bytes_total = 0;
  uint64_t bytes_moved = 0;
  double keys_per_second = 0;  // Since it started.
  std::optional<double> eta_seconds;
  std::vector<std::string> draining;  // Groups emptied or being emptied.
  std::optional<std::string> error;   // Why it stopped, if it failed.
};

// PUT /v1/services/NAME: a platform service that is not a cache node (the backup center,
// a gateway, a monitor) says it is there and how it is doing. Registrations are leases:
// each PUT renews one for kServiceLease, services renew every kServiceRenewal
// (KeepRegistered, master_client.h), and the master keeps them in memory only, so a
// restarted master knows every live service again within one renewal.
struct ServiceRegistration {
  std::string name;         // Unique: a second service of the same name replaces it.
  std::string kind;         // What it is: "backup-center", "gateway", ...
  std::string url;          // Its API: "http://HOST:PORT".
  std::string metrics_url;  // Its Prometheus /metrics; "" if none.
  // One line on how it is doing, as the service itself sees it ("2/2 groups streaming,
  // lag 0.1 s, last dump 12 s ago, 0 gaps").
  std::string summary;
};

inline constexpr std::chrono::seconds kServiceLease{15};
inline constexpr std::chrono::seconds kServiceRenewal{5};

// A live registration as the master lists it (GET /v1/services, and the answer to a
// PUT). Only live ones are listed: a service whose lease ran out is dropped, not shown
// as expired, so every listed service renewed within kServiceLease.
struct ServiceStatus {
  ServiceRegistration registration;
  double age_seconds = 0;  // Since its last renewal.
};

// GET /v1/services: every live service, by name.
struct ServiceList {
  std::vector<ServiceStatus> services;
};

// Whether `ranges` cover every slot exactly once, in order, naming only groups for which
// `is_group` holds (and none at all without groups), none moving to its own group.
// Errors: kInvalidArgument naming the first bad range ("slot_ranges[2]: ...").
base::Status CheckSlotRanges(const std::vector<SlotRange>& ranges,
                             const std::function<bool(std::string_view)>& is_group,
                             bool have_groups);

// Access tokens (docs/security.md). POST /v1/tokens: a new token.
struct TokenRequest {
  std::string name;
  http::Scope scope = http::Scope::kRead;
};

// A token as GET /v1/tokens lists it: never its secret.
struct TokenInfo {
  std::string id;
  std::string name;
  http::Scope scope = http::Scope::kRead;
  int64_t created_unix = 0;
};

// POST /v1/tokens's answer: the one time the token itself is shown.
struct IssuedToken {
  TokenInfo info;
  std::string token;
};

struct TokenList {
  std::vector<TokenInfo> tokens;
};

// GET /v1/tokens/self: what the caller's token allows. A master that takes no tokens
// answers required = false and admin for anyone.
struct CallerGrant {
  bool required = true;
  TokenInfo token;  // id and name empty when !required.
};

// Tenants (docs/security.md). POST /v1/tenants: a new tenant.
struct TenantRequest {
  std::string name;
  uint64_t memory_bytes = 0;
  uint64_t ops_per_second = 0;
};

// A tenant as GET /v1/tenants lists it: never its password's hash.
struct TenantInfo {
  std::string name;
  uint64_t id = 0;
  uint64_t generation = 0;
  uint64_t memory_bytes = 0;
  uint64_t ops_per_second = 0;
};

// POST /v1/tenants's answer: the one time the password is shown.
struct IssuedTenant {
  TenantInfo info;
  std::string password;
};

struct TenantList {
  std::vector<TenantInfo> tenants;
};

// POST /v1/tenants/NAME/flush's answer: the tenant's new generation and the map version
// that carries it.
struct TenantFlushed {
  uint64_t generation = 0;
  uint64_t version = 0;
};

// What a store that several masters share keeps (master/etcd_map_store.h): the map with
// the next tenant id (which the map does not show: ids are never reused), and each access
// token with its secret's hash.
struct StoredMap {
  ClusterState map;
  uint64_t next_tenant_id = 1;
};
struct StoredToken {
  TokenInfo info;
  std::string secret_sha256;  // 64 hex digits.
};

nlohmann::json ToJson(const ClusterState& map);
nlohmann::json ToJson(const NodeRegistration& registration);
nlohmann::json ToJson(const RegistrationReply& reply);
nlohmann::json ToJson(const NewGroup& group);
nlohmann::json ToJson(const ModeChange& change);
nlohmann::json ToJson(const FailoverRequest& request);
nlohmann::json ToJson(const FailoverReply& reply);
nlohmann::json ToJson(const RebalanceRequest& request);
nlohmann::json ToJson(const RebalanceReply& reply);
nlohmann::json ToJson(const MigrationStatus& status);
nlohmann::json ToJson(const ServiceRegistration& registration);
nlohmann::json ToJson(const ServiceStatus& status);
nlohmann::json ToJson(const ServiceList& list);
nlohmann::json ToJson(const TokenRequest& request);
nlohmann::json ToJson(const TokenInfo& info);
nlohmann::json ToJson(const IssuedToken& issued);
nlohmann::json ToJson(const TokenList& list);
nlohmann::json ToJson(const CallerGrant& grant);
nlohmann::json ToJson(const TenantRequest& request);
nlohmann::json ToJson(const TenantInfo& info);
nlohmann::json ToJson(const IssuedTenant& issued);
nlohmann::json ToJson(const TenantList& list);
nlohmann::json ToJson(const TenantFlushed& flushed);
nlohmann::json ToJson(const StoredMap& stored);
nlohmann::json ToJson(const StoredToken& stored);

// Each fails with kInvalidArgument naming the first bad field ("groups[1].nodes[0].role:
// expected a string").
base::Result<ClusterState> ParseClusterState(const nlohmann::json& json);
base::Result<StoredMap> ParseStoredMap(const nlohmann::json& json);
base::Result<StoredToken> ParseStoredToken(const nlohmann::json& json);
base::Result<NodeRegistration> ParseNodeRegistration(const nlohmann::json& json);
base::Result<RegistrationReply> ParseRegistrationReply(const nlohmann::json& json);
base::Result<NewGroup> ParseNewGroup(const nlohmann::json& json);
base::Result<ModeChange> ParseModeChange(const nlohmann::json& json);
base::Result<FailoverRequest> ParseFailoverRequest(const nlohmann::json& json);
base::Result<FailoverReply> ParseFailoverReply(const nlohmann::json& json);
base::Result<RebalanceRequest> ParseRebalanceRequest(const nlohmann::json& json);
base::Result<RebalanceReply> ParseRebalanceReply(const nlohmann::json& json);
base::Result<MigrationStatus> ParseMigrationStatus(const nlohmann::json& json);
base::Result<ServiceRegistration> ParseServiceRegistration(const nlohmann::json& json);
base::Result<ServiceStatus> ParseServiceStatus(const nlohmann::json& json);
base::Result<ServiceList> ParseServiceList(const nlohmann::json& json);
base::Result<TokenRequest> ParseTokenRequest(const nlohmann::json& json);
base::Result<IssuedToken> ParseIssuedToken(const nlohmann::json& json);
base::Result<TokenList> ParseTokenList(const nlohmann::json& json);
base::Result<CallerGrant> ParseCallerGrant(const nlohmann::json& json);
base::Result<TenantRequest> ParseTenantRequest(const nlohmann::json& json);
base::Result<IssuedTenant> ParseIssuedTenant(const nlohmann::json& json);
base::Result<TenantList> ParseTenantList(const nlohmann::json& json);
base::Result<TenantFlushed> ParseTenantFlushed(const nlohmann::json& json);

}  // namespace trellis::master
