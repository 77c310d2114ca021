// The block store's volumes as the master's API carries them (docs/block.md): what
// `trellis volume` asks for and what the NBD server and `trellis volume status` read.
// Like cluster_state.h: the master serialises them once (ToJson), readers parse them
// once (Parse*) into whole, typed values or an Error naming the first bad field.
//
// A volume is cut into chunks of chunk_size bytes; each chunk is kept as pieces on
// distinct storage nodes (blockd): whole copies for replica:N, or K data and M parity
// pieces for ec:K+M. The master places the pieces; the client library writes and reads
// them itself.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/result.h"

namespace trellis::master {

// What a platform service registers as, to be a storage node (ServiceRegistration::kind):
// its name is what placements name, its url "tcp://HOST:PORT" where it serves.
inline constexpr std::string_view kStorageNodeKind = "blockd";

// How a volume's chunks are kept: "replica:N" (N whole copies) or "ec:K+M" (K data
// pieces and M parity pieces, any K of which rebuild the chunk).
struct Redundancy {
  enum class Scheme { kReplica, kErasure };
  Scheme scheme = Scheme::kReplica;
  uint32_t data = 1;    // Copies for replica:N; K for ec:K+M.
  uint32_t parity = 0;  // M for ec:K+M; 0 for replicas.

  uint32_t pieces() const { return data + parity; }
  // Blocks of the volume in one stripe, the unit a chunk is a whole number of: each
  // data piece holds one block of it (1 for replicas, which hold whole chunks).
  uint32_t stripe_blocks() const { return IsReplica() ? 1 : data; }
  // Pieces a write must reach before it is acknowledged: a majority of the copies; K for
  // ec:K+M, so that a volume with M pieces of a chunk lost still takes writes (with no
  // margin left until the lost pieces are rebuilt).
  uint32_t write_quorum() const { return scheme == Scheme::kReplica ? data / 2 + 1 : data; }
  // Bytes of the volume per byte stored: 1/N, or K/(K+M).
  double usable_ratio() const {
    return IsReplica() ? 1.0 / data : static_cast<double>(data) / pieces();
  }
  bool IsReplica() const { return scheme == Scheme::kReplica; }
  bool operator==(const Redundancy&) const = default;
};
inline constexpr uint32_t kMaxReplicas = 8;
inline constexpr uint32_t kMaxDataPieces = 16;
inline constexpr uint32_t kMaxParityPieces = 8;
// "replica:3", "ec:4+2". Errors: kInvalidArgument saying what is accepted.
base::Result<Redundancy> ParseRedundancy(std::string_view text);
std::string FormatRedundancy(const Redundancy& redundancy);

// 1-64 letters, digits, '.', '-' or '_', not starting with '.': an NBD export name and
// a directory name on the storage nodes.
bool IsVolumeName(std::string_view name);

// Block sizes a volume may have: a power of two from 512 bytes to 64 KiB.
bool IsVolumeBlockSize(uint64_t bytes);
inline constexpr uint32_t kDefaultVolumeBlockSize = 4096;
// Bytes of the volume in one chunk. 64 MiB: a 1 GiB volume is 16 chunks (placements stay
// small in the map), and a chunk rebuilt after a loss is one bounded copy.
inline constexpr uint64_t kChunkBytes = 64ull << 20;

// POST /v1/volumes.
struct VolumeRequest {
  std::string name;
  uint64_t size = 0;  // Bytes: a whole number of blocks.
  Redundancy redundancy;
  uint32_t block_size = kDefaultVolumeBlockSize;
};

// Where one chunk's pieces are: nodes[i] (a storage node's registered name) holds piece
// i. A node in `stale` missed a write it should have taken (it was down): it serves no
// reads of this chunk until repair has brought its piece up to date.
struct ChunkPlacement {
  std::vector<std::string> nodes;
  std::vector<std::string> stale;
  bool operator==(const ChunkPlacement&) const = default;
};

struct VolumeState {
  std::string name;
  uint64_t id = 0;  // Never reused: names a volume's pieces on the storage nodes.
  uint64_t size = 0;
  uint32_t block_size = kDefaultVolumeBlockSize;
  uint64_t chunk_size = kChunkBytes;
  Redundancy redundancy;
  // The fencing token of the volume's writer: every open (POST /v1/volumes/NAME/open)
  // raises it, the writer sends it with each write, and a storage node refuses writes
  // older than the newest it has seen for the volume, so a writer that was replaced (a
  // stale NBD server) can no longer change the data.
  uint64_t generation = 0;
  std::vector<ChunkPlacement> chunks;  // ceil(size / chunk_size) of them.
  bool operator==(const VolumeState&) const = default;
};

// GET /v1/volumes.
struct VolumeList {
  std::vector<VolumeState> volumes;
};

// POST /v1/volumes/NAME/stale: a writer found `node` missing a write to `chunk` under
// `generation` (the writer's) and asks the master to mark that piece stale before the
// write is acknowledged. Refused (kConflict) from a writer whose generation was replaced.
struct StaleReport {
  uint64_t chunk = 0;
  std::string node;
  uint64_t generation = 0;
};

nlohmann::json ToJson(const VolumeRequest& request);
nlohmann::json ToJson(const VolumeState& volume);
nlohmann::json ToJson(const VolumeList& list);
nlohmann::json ToJson(const StaleReport& report);

base::Result<VolumeRequest> ParseVolumeRequest(const nlohmann::json& json);
base::Result<VolumeState> ParseVolumeState(const nlohmann::json& json);
base::Result<VolumeList> ParseVolumeList(const nlohmann::json& json);
base::Result<StaleReport> ParseStaleReport(const nlohmann::json& json);

}  // namespace trellis::master
