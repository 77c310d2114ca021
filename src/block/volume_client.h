// The volume client: reads and writes a volume's data on its storage nodes, doing the
// replication itself (docs/block.md). The NBD server is its user.
//
// OpenedVolume is a volume this process opened as its writer (the master raised its
// generation for it): the layout, the generation every write carries, where each storage
// node listens, and the chunks' placements, which change as pieces are marked stale.
// VolumeIo does the I/O of one shard over that shard's links to the nodes.
//
// Replicas (replica:N): a write goes to every copy that is not stale, at once, and is
// done when all took it; a copy that failed (its node down, its disk failing) is marked
// stale at the master first, and then the write is done if a majority took it, else it
// fails. A read is served by one up-to-date copy, the next one tried on a failure; a
// copy whose checksum failed is mended from the copy that answered (REPAIR, which only
// rewrites blocks still bad, so it never undoes a newer write). A write refused as
// fenced means another writer opened the volume: this one fails every write from then on.
//
// Erasure coding (ec:K+M): a stripe is K blocks of the volume, block j of it kept in data
// piece j and M parity blocks in the parity pieces, at the stripe's number times the
// block size. A read asks the data pieces it needs; when some fail it reads the
// stripes from any K up-to-date pieces and decodes (erasure_code.h), mending a piece
// whose checksum failed from the decoded bytes. A write covers whole stripes: a partial
// one reads its stripes first (decoding if need be) and lays its blocks over them; the
// stripes' K+M pieces are then written at once, under a lock of those stripes shared by
// the server's shards (a read-modify-write must not interleave with another write of the
// same stripe), and settled as replicas are, with K pieces the quorum.
//
// Thread safety: OpenedVolume, any thread; VolumeIo, its shard only.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "base/result.h"
#include "block/erasure_code.h"
#include "block/node_link.h"
#include "master/client/volume_state.h"
#include "net/waker.h"

namespace trellis::block {

class OpenedVolume {
 public:
  // `nodes`: the storage nodes' addresses by name (those not listed are down).
  OpenedVolume(master::VolumeState state,
               std::map<std::string, boost::asio::ip::tcp::endpoint> nodes);

  const std::string& name() const { return name_; }
  uint64_t id() const { return id_; }
  uint64_t size() const { return size_; }
  uint32_t block_size() const { return block_size_; }
  uint64_t chunk_size() const { return chunk_size_; }
  uint64_t generation() const { return generation_; }
  const master::Redundancy& redundancy() const { return redundancy_; }

  master::ChunkPlacement Chunk(uint64_t index) const;
  uint64_t chunk_count() const { return (size_ + chunk_size_ - 1) / chunk_size_; }
  // Holds stripes [first, last] of `chunk` for one write of an ec:K+M volume, waiting
  // while another write holds any of them (on any shard).
  boost::asio::awaitable<void> LockStripes(uint64_t chunk, uint64_t first, uint64_t last);
  void UnlockStripes(uint64_t chunk, uint64_t first, uint64_t last);
  // Every node holding a piece of the volume, stale or not.
  std::vector<std::string> Nodes() const;
  std::optional<boost::asio::ip::tcp::endpoint> EndpointOf(const std::string& node) const;
  // The master's word after a change (a piece marked stale).
  void Update(const master::VolumeState& state);
  void SetEndpoints(std::map<std::string, boost::asio::ip::tcp::endpoint> nodes);
  // Set once a storage node refused a write as fenced: a newer writer has the volume.
  bool fenced() const { return fenced_.load(std::memory_order_relaxed); }
  void Fence() { fenced_.store(true, std::memory_order_relaxed); }

 private:
  const std::string name_;
  const uint64_t id_, size_, chunk_size_, generation_;
  const uint32_t block_size_;
  const master::Redundancy redundancy_;
  mutable std::mutex mu_;
  std::vector<master::ChunkPlacement> chunks_;
  std::map<std::string, boost::asio::ip::tcp::endpoint> endpoints_;
  std::atomic<bool> fenced_{false};
  struct StripeRange {
    uint64_t chunk, first, last;
  };
  struct StripeWaiter {
    boost::asio::any_io_executor executor;
    std::shared_ptr<net::Waker> waker;
  };
  std::mutex stripes_mu_;
  std::vector<StripeRange> locked_stripes_;
  std::vector<StripeWaiter> stripe_waiters_;
};

// Marks `node`'s piece of `chunk` stale at the master (and updates the volume); the
// write that found it missing waits for this before it is acknowledged.
using StaleMarker =
    std::function<boost::asio::awaitable<base::Status>(uint64_t chunk, const std::string& node)>;

// One shard's links to the storage nodes, by address.
class NodeLinks {
 public:
  NodeLinks(boost::asio::any_io_executor executor, NodeLinkOptions options)
      : executor_(std::move(executor)), options_(options) {}
  std::shared_ptr<NodeLink> Get(const boost::asio::ip::tcp::endpoint& endpoint);
  const boost::asio::any_io_executor& executor() const { return executor_; }

 private:
  boost::asio::any_io_executor executor_;
  const NodeLinkOptions options_;
  std::map<boost::asio::ip::tcp::endpoint, std::shared_ptr<NodeLink>> links_;
};

class VolumeIo {
 public:
  // REQUIRES: `links` outlives it; `offset` and `length` of every call are whole blocks
  // within the volume (the NBD server checks).
  VolumeIo(std::shared_ptr<OpenedVolume> volume, NodeLinks& links, StaleMarker mark_stale);

  // Errors: kUnavailable when no copy could serve or take it (or too few), kConflict once
  // the volume is fenced.
  boost::asio::awaitable<base::Status> Read(uint64_t offset, uint32_t length, std::string* data);
  boost::asio::awaitable<base::Status> Write(uint64_t offset, std::string_view data, bool fua);
  // `no_hole`: the range stays allocated on the nodes (NBD's NO_HOLE).
  boost::asio::awaitable<base::Status> Zero(uint64_t offset, uint64_t length, bool fua,
                                            bool no_hole);
  // Raises every node's generation floor for the volume to this writer's, so that the
  // writer before it is refused at once; fails unless each chunk has enough pieces fenced
  // that the old writer can no longer reach its quorum.
  boost::asio::awaitable<base::Status> Fence();
  // Every write done before it is durable on the nodes that took it.
  boost::asio::awaitable<base::Status> Flush();

  const OpenedVolume& volume() const { return *volume_; }

 private:
  // One chunk's part of a request.
  struct Segment {
    uint64_t chunk;
    uint64_t chunk_offset;  // Of the volume's bytes within the chunk.
    uint64_t volume_offset;
    uint64_t length;
  };
  // One request to one piece's node, of several sent at once (CallEach).
  struct Call {
    std::string node;
    size_t piece = 0;                // Its index in the chunk's placement.
    std::shared_ptr<NodeLink> link;  // Null: the node is not registered (down).
    proto::block::RequestHeader header;
    std::string payload;
    std::optional<base::Result<NodeLink::Reply>> reply;
    bool ok() const {
      return reply && reply->ok() && (*reply)->status == proto::block::Status::kOk;
    }
  };
  std::vector<Segment> Split(uint64_t offset, uint64_t length) const;
  proto::block::RequestHeader Header(proto::block::Op op, uint64_t chunk, uint64_t piece_offset,
                                     uint64_t length) const;
  // A call of `header` to every node holding a piece of the volume.
  std::vector<Call> CallsToEveryNode(const proto::block::RequestHeader& header);
  // A call to each up-to-date piece of `chunk` that `want` accepts (by piece index).
  std::vector<Call> CallsTo(uint64_t chunk, const std::function<bool(size_t)>& want);
  // Sends every call at once and waits for all.
  boost::asio::awaitable<void> CallEach(std::vector<Call>& calls);
  // Looks at a change's replies: a fenced one fences the volume; every other failure
  // marks its piece stale; then whether the quorum took it.
  boost::asio::awaitable<base::Status> Settle(uint64_t chunk, std::vector<Call>& calls);
  // Replicas.
  boost::asio::awaitable<base::Status> Replicate(const Segment& segment, proto::block::Op op,
                                                 uint8_t flags, std::string_view payload);
  boost::asio::awaitable<base::Status> ReadCopy(const Segment& segment, char* out);
  // Erasure coding: the data pieces' bytes of stripes [first, last] of `chunk`, each
  // (last - first + 1) blocks, decoded when some pieces fail.
  boost::asio::awaitable<base::Result<std::vector<std::string>>> ReadStripes(uint64_t chunk,
                                                                             uint64_t first,
                                                                             uint64_t last);
  // Stripes [first, last] of a segment's chunk, coded at once (at most kCodedWindow of the
  // volume), holding its blocks [begin, end) (counted from the segment's first);
  // `whole`: the segment covers those stripes whole.
  struct StripeWindow {
    uint64_t first = 0, last = 0, begin = 0, end = 0;
    bool whole = false;
  };
  std::vector<StripeWindow> Windows(const Segment& segment) const;
  boost::asio::awaitable<base::Status> ReadCoded(const Segment& segment, char* out);
  // Writes `data` (nullptr: zeroes) over the segment's stripes.
  boost::asio::awaitable<base::Status> WriteCoded(const Segment& segment, const char* data,
                                                  uint8_t flags);
  boost::asio::awaitable<base::Status> Change(uint64_t offset, uint64_t length, const char* data,
                                              uint8_t flags);

  std::shared_ptr<OpenedVolume> volume_;
  NodeLinks& links_;
  StaleMarker mark_stale_;
  std::optional<ErasureCode> code_;  // For ec:K+M volumes.
  uint64_t reads_ = 0;               // Spreads reads over the copies.
};

}  // namespace trellis::block
