#include "master/volume_table.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include "master/client/field_reader.h"

namespace trellis::master {

using nlohmann::json;

base::Result<VolumeTable> VolumeTable::FromJson(const json& document) {
  VolumeTable table;
  if (document.is_null()) {
    return table;
  }
  uint64_t next_id = 1;
  FieldReader in(document, "volumes document");
  in.Unsigned("next_id", &next_id);
  TRELLIS_TRY_STATUS(in.status());
  if (!document.contains("volumes")) {
    return base::InvalidArgument("volumes document: volumes is missing");
  }
  TRELLIS_TRY(VolumeList list, ParseVolumeList(json{{"volumes", document["volumes"]}}));
  table.volumes_ = std::move(list.volumes);
  table.next_id_ = next_id;
  return table;
}

json VolumeTable::ToJson() const {
  json document = master::ToJson(VolumeList{volumes_});
  document["next_id"] = next_id_;
  return document;
}

base::Result<VolumeState> VolumeTable::Create(const VolumeRequest& request,
                                              const std::vector<std::string>& nodes) {
  if (Find(request.name) != nullptr) {
    return base::Conflict("volume " + request.name + " exists");
  }
  const uint32_t pieces = request.redundancy.pieces();
  if (nodes.size() < pieces) {
    return base::Unavailable(fmt::format("{} needs {} storage nodes up, and {} {} up",
                                         FormatRedundancy(request.redundancy), pieces, nodes.size(),
                                         nodes.size() == 1 ? "is" : "are"));
  }
  // Pieces each node holds already, so that the new ones go where there are fewest.
  std::map<std::string, uint64_t> load;
  for (const std::string& node : nodes) {
    load[node] = 0;
  }
  for (const VolumeState& volume : volumes_) {
    for (const ChunkPlacement& chunk : volume.chunks) {
      for (const std::string& node : chunk.nodes) {
        if (auto it = load.find(node); it != load.end()) {
          ++it->second;
        }
      }
    }
  }
  VolumeState volume;
  volume.name = request.name;
  volume.id = next_id_;
  volume.size = request.size;
  volume.block_size = request.block_size;
  // A whole number of stripes (K blocks) per chunk.
  const uint64_t stripe = uint64_t{request.block_size} * request.redundancy.stripe_blocks();
  volume.chunk_size = kChunkBytes / stripe * stripe;
  volume.redundancy = request.redundancy;
  const uint64_t chunks = (request.size + volume.chunk_size - 1) / volume.chunk_size;
  for (uint64_t c = 0; c < chunks; ++c) {
    std::vector<std::string> order(nodes);
    // Least loaded first; among equals by name, rotated by the chunk's number so that
    // equal nodes take turns.
    std::rotate(order.begin(), order.begin() + static_cast<ptrdiff_t>(c % order.size()),
                order.end());
    std::stable_sort(order.begin(), order.end(),
                     [&](const std::string& a, const std::string& b) { return load[a] < load[b]; });
    order.resize(pieces);
    for (const std::string& node : order) {
      ++load[node];
    }
    volume.chunks.push_back({std::move(order), {}});
  }
  ++next_id_;
  volumes_.push_back(volume);
  return volume;
}

base::Status VolumeTable::Delete(std::string_view name) {
  const auto it = std::find_if(volumes_.begin(), volumes_.end(),
                               [&](const VolumeState& volume) { return volume.name == name; });
  if (it == volumes_.end()) {
    return base::NotFound("no volume " + std::string(name));
  }
  volumes_.erase(it);
  return {};
}

base::Result<VolumeState> VolumeTable::Open(std::string_view name) {
  VolumeState* volume = FindMutable(name);
  if (volume == nullptr) {
    return base::NotFound("no volume " + std::string(name));
  }
  ++volume->generation;
  return *volume;
}

base::Result<VolumeState> VolumeTable::MarkStale(std::string_view name, const StaleReport& report) {
  VolumeState* volume = FindMutable(name);
  if (volume == nullptr) {
    return base::NotFound("no volume " + std::string(name));
  }
  if (report.generation != volume->generation) {
    return base::Conflict(fmt::format("generation {} of volume {} was replaced by {}",
                                      report.generation, name, volume->generation));
  }
  if (report.chunk >= volume->chunks.size()) {
    return base::NotFound(fmt::format("volume {} has no chunk {}", name, report.chunk));
  }
  ChunkPlacement& chunk = volume->chunks[report.chunk];
  if (std::find(chunk.nodes.begin(), chunk.nodes.end(), report.node) == chunk.nodes.end()) {
    return base::NotFound(
        fmt::format("chunk {} of volume {} has no piece on {}", report.chunk, name, report.node));
  }
  if (std::find(chunk.stale.begin(), chunk.stale.end(), report.node) == chunk.stale.end()) {
    // Never below the quorum: a chunk must keep pieces that every acknowledged write
    // reached (a writer asks only once a write had its quorum; a flush that lost too many
    // nodes fails instead).
    if (chunk.nodes.size() - chunk.stale.size() - 1 < volume->redundancy.write_quorum()) {
      return base::Unavailable(fmt::format(
          "chunk {} of volume {} would keep {} up-to-date pieces, fewer than its quorum of {}",
          report.chunk, name, chunk.nodes.size() - chunk.stale.size() - 1,
          volume->redundancy.write_quorum()));
    }
    chunk.stale.push_back(report.node);
  }
  return *volume;
}

const VolumeState* VolumeTable::Find(std::string_view name) const {
  const auto it = std::find_if(volumes_.begin(), volumes_.end(),
                               [&](const VolumeState& volume) { return volume.name == name; });
  return it == volumes_.end() ? nullptr : &*it;
}

VolumeState* VolumeTable::FindMutable(std::string_view name) {
  return const_cast<VolumeState*>(Find(name));
}

}  // namespace trellis::master
