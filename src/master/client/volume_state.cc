#include "master/client/volume_state.h"

#include <fmt/format.h>

#include <charconv>

#include <nlohmann/json.hpp>

#include "master/client/field_reader.h"

namespace trellis::master {

using nlohmann::json;

namespace {

constexpr std::string_view kRedundancyRule =
    "replica:N (N from 1 to 8) or ec:K+M (K from 1 to 16, M from 1 to 8)";
constexpr std::string_view kVolumeNameRule =
    "1-64 letters, digits, '.', '-' or '_', not starting with '.'";

bool ParseCount(std::string_view text, uint32_t* out) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return error == std::errc() && end == text.data() + text.size() && !text.empty();
}

void ReadChunkPlacement(FieldReader& in, ChunkPlacement* chunk) {
  in.Strings("nodes", &chunk->nodes);
  in.Strings("stale", &chunk->stale);
}

void ReadVolumeState(FieldReader& in, VolumeState* volume) {
  in.String("name", &volume->name, IsVolumeName, kVolumeNameRule);
  in.Unsigned("id", &volume->id);
  in.Unsigned("size", &volume->size);
  uint64_t block_size = 0;
  in.Unsigned("block_size", &block_size);
  volume->block_size = static_cast<uint32_t>(block_size);
  in.Unsigned("chunk_size", &volume->chunk_size);
  in.Enum("redundancy", &volume->redundancy, ParseRedundancy);
  in.Unsigned("generation", &volume->generation);
  in.Array("chunks", &volume->chunks, ReadChunkPlacement);
}

// What a parsed volume must hold beyond its fields' types: the layout the storage
// nodes and the client library rely on.
base::Status CheckVolume(const VolumeState& volume) {
  if (!IsVolumeBlockSize(volume.block_size)) {
    return base::InvalidArgument("block_size: expected a power of two from 512 to 65536");
  }
  if (volume.chunk_size == 0 ||
      volume.chunk_size % (uint64_t{volume.block_size} * volume.redundancy.stripe_blocks()) != 0) {
    return base::InvalidArgument("chunk_size: expected a whole number of stripes");
  }
  if (volume.size % volume.block_size != 0) {
    return base::InvalidArgument("size: expected a whole number of blocks");
  }
  if (volume.chunks.size() != (volume.size + volume.chunk_size - 1) / volume.chunk_size) {
    return base::InvalidArgument("chunks: expected one placement per chunk of the volume");
  }
  for (size_t i = 0; i < volume.chunks.size(); ++i) {
    if (volume.chunks[i].nodes.size() != volume.redundancy.pieces()) {
      return base::InvalidArgument(
          fmt::format("chunks[{}].nodes: expected {} nodes", i, volume.redundancy.pieces()));
    }
  }
  return {};
}

}  // namespace

base::Result<Redundancy> ParseRedundancy(std::string_view text) {
  Redundancy redundancy;
  if (text.starts_with("replica:")) {
    if (ParseCount(text.substr(8), &redundancy.data) && redundancy.data >= 1 &&
        redundancy.data <= kMaxReplicas) {
      return redundancy;
    }
  } else if (text.starts_with("ec:")) {
    const std::string_view counts = text.substr(3);
    const size_t plus = counts.find('+');
    redundancy.scheme = Redundancy::Scheme::kErasure;
    if (plus != std::string_view::npos && ParseCount(counts.substr(0, plus), &redundancy.data) &&
        ParseCount(counts.substr(plus + 1), &redundancy.parity) && redundancy.data >= 1 &&
        redundancy.data <= kMaxDataPieces && redundancy.parity >= 1 &&
        redundancy.parity <= kMaxParityPieces) {
      return redundancy;
    }
  }
  return base::InvalidArgument(fmt::format("redundancy '{}': expected {}", text, kRedundancyRule));
}

std::string FormatRedundancy(const Redundancy& redundancy) {
  return redundancy.IsReplica() ? fmt::format("replica:{}", redundancy.data)
                                : fmt::format("ec:{}+{}", redundancy.data, redundancy.parity);
}

bool IsVolumeName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name[0] == '.') {
    return false;
  }
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_';
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool IsVolumeBlockSize(uint64_t bytes) {
  return bytes >= 512 && bytes <= 65536 && (bytes & (bytes - 1)) == 0;
}

json ToJson(const VolumeRequest& request) {
  return {{"name", request.name},
          {"size", request.size},
          {"redundancy", FormatRedundancy(request.redundancy)},
          {"block_size", request.block_size}};
}

json ToJson(const VolumeState& volume) {
  json chunks = json::array();
  for (const ChunkPlacement& chunk : volume.chunks) {
    chunks.push_back({{"nodes", chunk.nodes}, {"stale", chunk.stale}});
  }
  return {{"name", volume.name},
          {"id", volume.id},
          {"size", volume.size},
          {"block_size", volume.block_size},
          {"chunk_size", volume.chunk_size},
          {"redundancy", FormatRedundancy(volume.redundancy)},
          {"generation", volume.generation},
          {"chunks", std::move(chunks)}};
}

json ToJson(const VolumeList& list) {
  json volumes = json::array();
  for (const VolumeState& volume : list.volumes) {
    volumes.push_back(ToJson(volume));
  }
  return {{"volumes", std::move(volumes)}};
}

json ToJson(const StaleReport& report) {
  return {{"chunk", report.chunk}, {"node", report.node}, {"generation", report.generation}};
}

base::Result<VolumeRequest> ParseVolumeRequest(const json& json_value) {
  TRELLIS_TRY(VolumeRequest request,
              ReadWhole<VolumeRequest>(json_value, [](FieldReader& in, VolumeRequest* value) {
                in.String("name", &value->name, IsVolumeName, kVolumeNameRule);
                in.Unsigned("size", &value->size);
                in.Enum("redundancy", &value->redundancy, ParseRedundancy);
                std::optional<uint64_t> block_size;
                in.OptionalUnsigned("block_size", &block_size);
                if (block_size && !IsVolumeBlockSize(*block_size)) {
                  block_size = 0;  // Refused below, with the rule.
                }
                value->block_size =
                    static_cast<uint32_t>(block_size.value_or(kDefaultVolumeBlockSize));
              }));
  if (!IsVolumeBlockSize(request.block_size)) {
    return base::InvalidArgument("block_size: expected a power of two from 512 to 65536");
  }
  if (request.size == 0 || request.size % request.block_size != 0) {
    return base::InvalidArgument(fmt::format(
        "size: expected a positive whole number of {}-byte blocks", request.block_size));
  }
  return request;
}

base::Result<VolumeState> ParseVolumeState(const json& json_value) {
  TRELLIS_TRY(VolumeState volume, ReadWhole<VolumeState>(json_value, ReadVolumeState));
  TRELLIS_TRY_STATUS(CheckVolume(volume));
  return volume;
}

base::Result<VolumeList> ParseVolumeList(const json& json_value) {
  TRELLIS_TRY(VolumeList list,
              ReadWhole<VolumeList>(json_value, [](FieldReader& in, VolumeList* value) {
                in.Array("volumes", &value->volumes, ReadVolumeState);
              }));
  for (const VolumeState& volume : list.volumes) {
    if (base::Status checked = CheckVolume(volume); !checked) {
      return base::WithContext("volume " + volume.name, checked.error());
    }
  }
  return list;
}

base::Result<StaleReport> ParseStaleReport(const json& json_value) {
  return ReadWhole<StaleReport>(json_value, [](FieldReader& in, StaleReport* value) {
    in.Unsigned("chunk", &value->chunk);
    in.String("node", &value->node);
    in.Unsigned("generation", &value->generation);
  });
}

}  // namespace trellis::master
