// PointInTime: what the cluster held at a given second, from the backup center's archive
// (docs/backup.md, "Restore").
//
// A group's archive is a run of chains: a complete dump of log L taken from position S,
// then the segments of L that continue from S without a hole (and those of a log that
// continues L, after a promotion, from where it continues it). A chain can restore any
// second from the dump's end (its snapshot may hold writes made while it was taken) to
// its newest record, or to `live_until` for the chain the stream still writes (it has
// every record up to then). Between chains, the main's log lost the position (a
// failover, a long disconnection): the seconds in between are a gap, not restorable.
//
// The state at T replays a chain: the dump's items, then every record of second <= T.
// Slot moves are not client writes: a key moved out of a group is no longer that
// group's to say anything about, and a moved-in copy is what the key held; across groups
// a key's state is the one of its newest event (a write, a delete, an expiry or an
// eviction, or its arrival by a move).
//
// Thread safety: pure functions over files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/result.h"

namespace trellis::backup {

// The seconds a chain can restore, inclusive.
struct RestorableRange {
  uint32_t from = 0;
  uint32_t to = 0;
  std::string dump;  // The dump file it starts from.
};

// The chains of the group archive in `dir`, oldest first; the newest reaches
// `live_until` when it is later than its newest record.
base::Result<std::vector<RestorableRange>> RestorableRanges(const std::filesystem::path& dir,
                                                            uint32_t live_until);

// The files of the group archive in `dir` that no second from `keep_from` on needs (for
// retention): those of chains that end before it, and files in no chain (a segment
// whose dump was lost), unless a chain still needed holds them. The chain the stream
// writes is always kept.
base::Result<std::vector<std::filesystem::path>> FilesNotNeededFrom(
    const std::filesystem::path& dir, uint32_t keep_from);

struct ItemState {
  std::string value;
  uint32_t client_flags = 0;
  uint32_t exptime = 0;  // Unix seconds, 0: never.

  bool operator==(const ItemState&) const = default;
};

// One key's newest event, for merging groups.
struct KeyState {
  uint32_t time = 0;              // Unix seconds of the event.
  std::optional<ItemState> item;  // Unset: deleted, expired or evicted.
};
using ClusterState = std::unordered_map<std::string, KeyState>;

// Adds to `state` what the group archive in `dir` says of each key at second `at`
// (replaying the chain of the range that holds `at`); a key's newest event wins.
// Errors: `at` in no range (the message names them), a corrupt file.
base::Status AddGroupStateAt(const std::filesystem::path& dir, uint32_t at, uint32_t live_until,
                             ClusterState* state);

// One group's archive at a second: AddGroupStateAt's arguments.
struct GroupPoint {
  std::filesystem::path dir;
  uint32_t at = 0;
  uint32_t live_until = 0;
};
// The cluster's state from every group's: AddGroupStateAt for each.
base::Result<ClusterState> ClusterStateAt(const std::vector<GroupPoint>& points);

// What a restore does: the keys to set and to delete so that the cluster holds `then`
// where it holds `now`. Items whose time ran out by `unix_now` are deleted.
struct RestorePlan {
  std::vector<std::pair<std::string, ItemState>> sets;
  std::vector<std::string> deletes;
  uint64_t unchanged = 0;  // Keys changed after T that hold again what they held then.
};
RestorePlan PlanRestore(ClusterState then, const ClusterState& now, uint32_t at, uint32_t unix_now);

}  // namespace trellis::backup
