#include "backup/point_in_time.h"

#include <algorithm>
#include <set>

#include "backup/group_archive.h"

namespace trellis::backup {

namespace fs = std::filesystem;

namespace {

// A chain's files: the dump, then the segments that continue it.
struct Chain {
  RestorableRange range;
  std::vector<fs::path> files;
  uint64_t after = 0;      // The dump's log position: records up to it are in the dump.
  uint64_t position = 0;   // The last sequence the chain holds.
  std::string broken;      // The corrupt file that ends it early ("" if none).
  uint64_t records = 0;    // In its complete files: at least as many as the keys it names.
  uint64_t first_log = 0;  // The dump's log.
  uint64_t last_log = 0;   // The log it ends in (a promotion continues one log in another).
};

// A segment's sequences and newest second, as far as they read.
struct SegmentSpan {
  const ArchiveFileInfo* file = nullptr;
  uint64_t last = UINT64_MAX;  // Unknown (a corrupt file with no later segment): all.
  uint32_t last_time = 0;
};

base::Result<std::vector<Chain>> Chains(const fs::path& dir, uint32_t live_until) {
  TRELLIS_TRY(auto files, GroupArchive::List(dir));
  std::vector<SegmentSpan> segments;
  for (const ArchiveFileInfo& file : files) {
    if (file.header.kind != FileKind::kSegment) {
      continue;
    }
    SegmentSpan& span = segments.emplace_back();
    span.file = &file;
    if (!file.error.empty()) {
      continue;
    }
    if (file.end) {
      span.last = file.end->last_sequence;
      span.last_time = file.end->last_time;
      continue;
    }
    span.last = file.header.after;
    TRELLIS_TRY_STATUS(GroupArchive::Scan(file.path, [&span](const cache::MutationRecord& record) {
      span.last = record.sequence;
      span.last_time = std::max(span.last_time, record.timestamp);
    }));
  }
  // A corrupt segment ends where the next one of its log starts.
  for (size_t i = 0; i < segments.size(); ++i) {
    if (!segments[i].file->error.empty()) {
      const uint64_t log = segments[i].file->header.log_id;
      for (size_t j = i + 1; j < segments.size(); ++j) {
        if (segments[j].file->header.log_id == log || segments[j].file->header.continues == log) {
          segments[i].last = segments[j].file->header.after;
          break;
        }
      }
    }
  }
  std::vector<Chain> chains;
  for (const ArchiveFileInfo& file : files) {
    if (file.header.kind != FileKind::kDump || !file.error.empty() || !file.end) {
      continue;
    }
    Chain& chain = chains.emplace_back();
    chain.range = {file.end->last_time, file.end->last_time, file.path.filename().string()};
    chain.files.push_back(file.path);
    chain.after = chain.position = file.end->last_sequence;
    chain.records = file.end->records;
    uint64_t& log = chain.last_log;
    chain.first_log = log = file.header.log_id;
    for (const SegmentSpan& span : segments) {
      const ArchiveFileInfo& segment = *span.file;
      const bool continues_log = segment.header.continues == log;
      if ((segment.header.log_id != log && !continues_log) || span.last <= chain.position) {
        continue;  // Another log's, or all of it is in the chain already.
      }
      if (segment.header.after > chain.position) {
        break;  // A hole: the sequences in between were never archived.
      }
      if (!segment.error.empty()) {
        // What the chain knows ends where this file starts: at the last second its
        // header says was complete before it.
        chain.broken = segment.error;
        if (segment.header.after == chain.position) {
          chain.range.to = std::max(chain.range.to, segment.header.complete_until);
        }
        break;
      }
      chain.files.push_back(segment.path);
      log = segment.header.log_id;
      chain.records += segment.end ? segment.end->records : 0;
      chain.position = span.last;
      chain.range.to = std::max(chain.range.to, span.last_time);
    }
  }
  // The chains that reach the stream's position (the furthest any chain of the newest
  // chain's log reaches: a periodic dump taken while nothing was written reaches it as
  // much as the chain of the segments before it) hold every second up to what the stream
  // has.
  if (!chains.empty()) {
    const uint64_t live_log = chains.back().last_log;
    uint64_t live_position = 0;
    for (const Chain& chain : chains) {
      if (chain.last_log == live_log) {
        live_position = std::max(live_position, chain.position);
      }
    }
    for (Chain& chain : chains) {
      if (chain.broken.empty() && chain.last_log == live_log && chain.position == live_position) {
        chain.range.to = std::max(chain.range.to, live_until);
      }
    }
  }
  return chains;
}

std::string Describe(const std::vector<Chain>& chains) {
  if (chains.empty()) {
    return "nothing is archived yet";
  }
  std::string out = "restorable:";
  for (const Chain& chain : chains) {
    out += " " + std::to_string(chain.range.from) + ".." + std::to_string(chain.range.to);
  }
  return out + " (unix seconds)";
}

}  // namespace

base::Result<std::vector<RestorableRange>> RestorableRanges(const fs::path& dir,
                                                            uint32_t live_until) {
  TRELLIS_TRY(auto chains, Chains(dir, live_until));
  // Chains of one log (periodic dumps) overlap: the seconds restorable are their union.
  std::vector<RestorableRange> ranges;
  uint64_t last_log = 0;  // The log the newest range's chains end in.
  for (const Chain& chain : chains) {
    const bool same_log = last_log == chain.first_log || last_log == chain.last_log;
    last_log = chain.last_log;
    if (!ranges.empty() && same_log && chain.range.from <= ranges.back().to + 1) {
      ranges.back().to = std::max(ranges.back().to, chain.range.to);
    } else {
      ranges.push_back(chain.range);
    }
  }
  return ranges;
}

base::Result<std::vector<fs::path>> FilesNotNeededFrom(const fs::path& dir, uint32_t keep_from) {
  TRELLIS_TRY(auto chains, Chains(dir, 0));
  TRELLIS_TRY(auto files, GroupArchive::List(dir));
  std::set<fs::path> needed;
  for (size_t i = 0; i < chains.size(); ++i) {
    if (chains[i].range.to >= keep_from || i + 1 == chains.size()) {
      needed.insert(chains[i].files.begin(), chains[i].files.end());
    }
  }
  std::vector<fs::path> unneeded;
  for (const ArchiveFileInfo& file : files) {
    // A file without its end is being written (a dump, the open segment): kept.
    if (!needed.contains(file.path) && file.end) {
      unneeded.push_back(file.path);
    }
  }
  return unneeded;
}

base::Status AddGroupStateAt(const fs::path& dir, uint32_t at, uint32_t live_until,
                             ClusterState* state) {
  TRELLIS_TRY(auto chains, Chains(dir, live_until));
  const Chain* chain = nullptr;
  for (const Chain& candidate : chains) {
    if (candidate.range.from <= at && at <= candidate.range.to) {
      chain = &candidate;
    }
  }
  if (chain == nullptr) {
    std::string broken;
    for (const Chain& candidate : chains) {
      if (!candidate.broken.empty() && candidate.range.from <= at) {
        broken = "; it needs " + candidate.broken;
      }
    }
    return base::InvalidArgument(dir.filename().string() + ": " + std::to_string(at) +
                                 " is not restorable" + broken + "; " + Describe(chains));
  }
  const uint64_t after = chain->after;
  ClusterState group;
  group.reserve(chain->records);  // No rehash while it grows.
  for (const fs::path& file : chain->files) {
    TRELLIS_TRY_STATUS(
        GroupArchive::Scan(file, [&group, at, after](const cache::MutationRecord& record) {
          if (record.sequence != 0 && (record.sequence <= after || record.timestamp > at)) {
            return;  // In the dump already, or newer than the point (dump items, sequence 0,
                     // are all older).
          }
          using cache::MutationOp;
          std::string key(record.key);
          switch (record.op) {
            case MutationOp::kStore:
            case MutationOp::kMoveIn: {
              KeyState& key_state = group[std::move(key)];
              key_state.time = record.timestamp;
              if (!key_state.item) {
                key_state.item.emplace();
              }
              key_state.item->value.assign(record.value);  // Reuses the buffer of a rewrite.
              key_state.item->client_flags = record.client_flags;
              key_state.item->exptime = record.exptime;
              break;
            }
            case MutationOp::kDelete:
            case MutationOp::kExpire:
            case MutationOp::kEvict:
              group[std::move(key)] = {record.timestamp, std::nullopt};
              break;
            case MutationOp::kMoveOut:
              group.erase(key);  // Another group's to say from now on.
              break;
            case MutationOp::kTouch:
              if (auto it = group.find(key); it != group.end() && it->second.item) {
                it->second.item->exptime = record.exptime;
                it->second.time = record.timestamp;
              }
              break;
            case MutationOp::kFlush:
              for (auto& [key, key_state] : group) {
                key_state = {record.timestamp, std::nullopt};
              }
              break;
          }
        }));
  }
  // The group's entries move over whole (no key or value is copied again).
  if (state->empty()) {
    *state = std::move(group);
    return {};
  }
  state->reserve(state->size() + group.size());
  while (!group.empty()) {
    auto entry = group.extract(group.begin());
    const auto it = state->find(entry.key());
    if (it == state->end()) {
      state->insert(std::move(entry));
    } else if (entry.mapped().time >= it->second.time) {
      it->second = std::move(entry.mapped());
    }
  }
  return {};
}

base::Result<ClusterState> ClusterStateAt(const std::vector<GroupPoint>& points) {
  ClusterState state;
  for (const GroupPoint& point : points) {
    TRELLIS_TRY_STATUS(AddGroupStateAt(point.dir, point.at, point.live_until, &state));
  }
  return state;
}

RestorePlan PlanRestore(ClusterState then, const ClusterState& now, uint32_t at,
                        uint32_t unix_now) {
  // The item a key's state holds, unless deleted or expired by now.
  auto live = [unix_now](const KeyState* state) -> const ItemState* {
    if (state == nullptr || !state->item ||
        (state->item->exptime != 0 && state->item->exptime <= unix_now)) {
      return nullptr;
    }
    return &*state->item;
  };
  RestorePlan plan;
  auto consider = [&](const std::string& key, KeyState* was_state, const KeyState* is_state) {
    const ItemState* was = live(was_state);
    const ItemState* is = live(is_state);
    if (was == nullptr ? is == nullptr : is != nullptr && *was == *is) {
      plan.unchanged += is_state != nullptr && is_state->time > at ? 1 : 0;
    } else if (was != nullptr) {
      plan.sets.emplace_back(key, std::move(*was_state->item));
    } else {
      plan.deletes.push_back(key);
    }
  };
  for (const auto& [key, key_state] : now) {
    const auto it = then.find(key);
    consider(key, it == then.end() ? nullptr : &it->second, &key_state);
  }
  for (auto& [key, key_state] : then) {
    if (!now.contains(key)) {
      consider(key, &key_state, nullptr);
    }
  }
  return plan;
}

}  // namespace trellis::backup
