// PieceStore: a storage node's pieces of volumes on its local disk (docs/block.md). Each
// piece, named by (volume id, chunk number), is two files under DIR/pieces/<volume>/:
// `<chunk>` holds the data (sparse: blocks never written take no space) and
// `<chunk>.crc` holds 8 bytes per block, the block's CRC32C and a mark that it was
// written. Every read checks each written block against its CRC and answers kCorrupt
// on a mismatch, so a flipped bit on the disk is never served: the client reads another
// copy and repair rewrites this one. A block never written reads as zeroes.
//
// Fencing: DIR/pieces/<volume>/generation holds the newest writer generation seen for
// the volume (raised by a newer write or a fence, written durably before the write is
// done); a write of an older generation is refused with kStale.
//
// Durability (the fsync discipline): writes go to the page cache, data first and then
// its CRCs. A FUA write or zeroing is fdatasync'ed (both files, and the directories when
// it made the piece) before it returns; Flush() fdatasyncs every file written since the
// last flush, and the directories that gained files; Open() syncs the whole file system
// of DIR first (a node killed and restarted may hold writes only in the page cache). So a write is
// durable once its FUA or a later flush returned, as NBD promises; a write caught by a crash
// between its data and its CRCs reads as kCorrupt here, and the client takes another copy. The data
// files use the page cache, not O_DIRECT: the node's memory then serves hot reads, and flushes are
// batched.
//
// Thread safety: every method may be called from any thread. One piece's data and CRCs
// change together under its own lock, so a read never sees one without the other.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "base/result.h"
#include "proto/block/wire.h"

namespace trellis::block {

// CRC32C (Castagnoli), computed by isa-l.
uint32_t Crc32c(std::string_view data);

class PieceStore {
 public:
  using Status = proto::block::Status;
  // The largest piece a node keeps: offsets past it are refused.
  static constexpr uint64_t kMaxPieceBytes = 1ull << 30;

  // Opens (creating) DIR/pieces and reads the volumes' generations.
  static base::Result<std::unique_ptr<PieceStore>> Open(const std::filesystem::path& dir);
  ~PieceStore();

  // `header` names the piece, the range and the generation (proto/block/wire.h).
  Status Write(const proto::block::RequestHeader& header, std::string_view data);
  Status Read(const proto::block::RequestHeader& header, std::string* data);
  Status Zero(const proto::block::RequestHeader& header);
  // Writes the blocks of `data` whose stored copy fails its checksum; answers how many.
  Status Repair(const proto::block::RequestHeader& header, std::string_view data, size_t* repaired);
  Status Fence(uint64_t volume, uint64_t generation);
  Status Flush();

  struct Usage {
    uint64_t pieces = 0;
    uint64_t bytes = 0;  // Allocated on disk, data and CRCs.
  };
  Usage usage() const;

 private:
  struct Piece {
    std::mutex mu;  // Held across a change of the data and its CRCs, and across a read.
    int data_fd = -1;
    int crc_fd = -1;
    ~Piece();
  };
  using PieceKey = std::pair<uint64_t, uint32_t>;

  explicit PieceStore(std::filesystem::path root) : root_(std::move(root)) {}
  // The piece, opened (created if `create`); null if absent and not `create`, or on error
  // (`*status` says which).
  std::shared_ptr<Piece> Find(uint64_t volume, uint32_t chunk, bool create, Status* status);
  // The piece a change (write, zero, repair) of `header` goes to, once its range is valid
  // and its generation admitted; null with `*status` saying why not (kOk: no such piece
  // and not `create`).
  std::shared_ptr<Piece> ForChange(const proto::block::RequestHeader& header, bool create,
                                   Status* status);
  // Refuses `generation` if below the volume's, and raises the volume's to it.
  Status Admit(uint64_t volume, uint64_t generation);
  static Status CheckRange(const proto::block::RequestHeader& header);
  void MarkDirty(const PieceKey& key);
  // After a change of `piece`: durable now (FUA: the files, and the directories if the
  // piece is new), or marked for the next flush.
  Status Persist(const proto::block::RequestHeader& header, Piece& piece);
  // fsyncs DIR/pieces/<volume> and DIR/pieces.
  bool SyncDirectories(uint64_t volume) const;
  // Whether a newer writer than the header's has been seen for its volume.
  bool Fenced(const proto::block::RequestHeader& header);

  const std::filesystem::path root_;  // DIR/pieces.
  mutable std::mutex mu_;             // Guards the maps below, never held across I/O.
  std::map<PieceKey, std::shared_ptr<Piece>> pieces_;
  std::set<PieceKey> dirty_;       // Written since the last flush.
  std::set<uint64_t> dirty_dirs_;  // Volumes whose directory gained files.
  // Held across a raise's durable write (once per new writer of a volume).
  std::mutex generation_mu_;
  std::map<uint64_t, uint64_t> generations_;  // Volume -> newest writer seen.
};

}  // namespace trellis::block
