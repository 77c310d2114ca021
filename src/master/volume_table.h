// VolumeTable: the master's record of the block store's volumes (docs/block.md): each
// volume's layout, its writer's generation, and where every chunk's pieces are. The
// rules live here, as pure functions of the table and the storage nodes that are up:
// a new volume's pieces go to the least loaded nodes, never two pieces of one chunk on
// one node; an open raises the generation (fencing the writer before); a piece is marked
// stale only by the writer of the current generation.
//
// The table is one document of the master's store (map_store.h, kVolumesDocument),
// saved whole after each change; VolumeService undoes a change whose save failed.
//
// Thread safety: none; the master's thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/result.h"
#include "master/client/volume_state.h"

namespace trellis::master {

class VolumeTable {
 public:
  // The document as ToJson wrote it; null: an empty table. Errors: kInvalidArgument
  // naming the first bad field.
  static base::Result<VolumeTable> FromJson(const nlohmann::json& document);
  nlohmann::json ToJson() const;

  // Adds a volume with its pieces placed on `nodes` (the storage nodes that are up, by
  // registered name). Errors: kConflict when the name is taken; kUnavailable when fewer
  // nodes are up than the redundancy has pieces.
  base::Result<VolumeState> Create(const VolumeRequest& request,
                                   const std::vector<std::string>& nodes);
  // Errors: kNotFound.
  base::Status Delete(std::string_view name);
  // Raises the volume's generation and answers the volume as its new writer sees it.
  // Errors: kNotFound.
  base::Result<VolumeState> Open(std::string_view name);
  // Marks report.node's piece of report.chunk stale. Errors: kNotFound (no such volume,
  // chunk or piece), kConflict for a generation that is not the volume's current one,
  // kUnavailable when the chunk would keep fewer up-to-date pieces than its quorum.
  base::Result<VolumeState> MarkStale(std::string_view name, const StaleReport& report);

  // nullptr if there is none.
  const VolumeState* Find(std::string_view name) const;
  const std::vector<VolumeState>& volumes() const { return volumes_; }

 private:
  VolumeState* FindMutable(std::string_view name);

  std::vector<VolumeState> volumes_;  // In order of creation.
  uint64_t next_id_ = 1;              // Above every id ever given.
};

}  // namespace trellis::master
