#include "block/volume_client.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "net/waker.h"

namespace trellis::block {

namespace asio = boost::asio;
using proto::block::Op;
using proto::block::RequestHeader;
using proto::block::Status;

namespace {

// One request to one node, of several sent at once.
struct Call {
  std::string node;
  std::shared_ptr<NodeLink> link;  // Null: the node is not registered (down).
  std::optional<base::Result<NodeLink::Reply>> reply;
};

// Sends `header` and `payload` on every call's link at once and waits for all replies.
asio::awaitable<void> CallEach(std::vector<Call>& calls, const RequestHeader& header,
                               std::string_view payload) {
  struct Shared {
    explicit Shared(const asio::any_io_executor& executor) : done(executor) {}
    net::Waker done;
    size_t left = 0;
    std::string payload;
    std::vector<std::optional<base::Result<NodeLink::Reply>>> replies;
  };
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  auto shared = std::make_shared<Shared>(executor);
  shared->payload = std::string(payload);  // Outlives this frame if it is cancelled.
  shared->replies.resize(calls.size());
  // Counted before any starts: a call may finish inside co_spawn (a link that failed just
  // now answers at once), and the last one to finish wakes this.
  for (size_t i = 0; i < calls.size(); ++i) {
    if (calls[i].link == nullptr) {
      shared->replies[i] = base::Unavailable("storage node " + calls[i].node + " is down");
    } else {
      ++shared->left;
    }
  }
  const bool any = shared->left > 0;
  for (size_t i = 0; i < calls.size(); ++i) {
    if (calls[i].link == nullptr) {
      continue;
    }
    asio::co_spawn(
        executor,
        [shared, link = calls[i].link, header, i]() -> asio::awaitable<void> {
          base::Result<NodeLink::Reply> reply = co_await link->Call(header, shared->payload);
          shared->replies[i] = std::move(reply);
          if (--shared->left == 0) {
            shared->done.Wake();
          }
        },
        asio::detached);
  }
  if (any) {
    co_await shared->done.Wait();
  }
  for (size_t i = 0; i < calls.size(); ++i) {
    calls[i].reply = std::move(shared->replies[i]);
  }
}

}  // namespace

OpenedVolume::OpenedVolume(master::VolumeState state,
                           std::map<std::string, asio::ip::tcp::endpoint> nodes)
    : name_(state.name),
      id_(state.id),
      size_(state.size),
      chunk_size_(state.chunk_size),
      generation_(state.generation),
      block_size_(state.block_size),
      redundancy_(state.redundancy),
      chunks_(std::move(state.chunks)),
      endpoints_(std::move(nodes)) {}

master::ChunkPlacement OpenedVolume::Chunk(uint64_t index) const {
  std::lock_guard lock(mu_);
  return chunks_.at(index);
}

std::vector<std::string> OpenedVolume::Nodes() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> nodes;
  for (const master::ChunkPlacement& chunk : chunks_) {
    nodes.insert(nodes.end(), chunk.nodes.begin(), chunk.nodes.end());
  }
  std::sort(nodes.begin(), nodes.end());
  nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
  return nodes;
}

std::optional<asio::ip::tcp::endpoint> OpenedVolume::EndpointOf(const std::string& node) const {
  std::lock_guard lock(mu_);
  if (auto it = endpoints_.find(node); it != endpoints_.end()) {
    return it->second;
  }
  return std::nullopt;
}

void OpenedVolume::Update(const master::VolumeState& state) {
  std::lock_guard lock(mu_);
  if (state.generation == generation_ && state.chunks.size() == chunks_.size()) {
    chunks_ = state.chunks;
  }
}

void OpenedVolume::SetEndpoints(std::map<std::string, asio::ip::tcp::endpoint> nodes) {
  std::lock_guard lock(mu_);
  endpoints_ = std::move(nodes);
}

std::shared_ptr<NodeLink> NodeLinks::Get(const asio::ip::tcp::endpoint& endpoint) {
  std::shared_ptr<NodeLink>& link = links_[endpoint];
  if (link == nullptr) {
    link = NodeLink::Create(executor_, endpoint, options_);
  }
  return link;
}

std::vector<VolumeIo::Segment> VolumeIo::Split(uint64_t offset, uint64_t length) const {
  std::vector<Segment> segments;
  const uint64_t chunk_size = volume_->chunk_size();
  while (length > 0) {
    const uint64_t chunk = offset / chunk_size;
    const uint64_t within = offset % chunk_size;
    const uint64_t part = std::min(length, chunk_size - within);
    segments.push_back({chunk, within, offset, static_cast<uint32_t>(part)});
    offset += part;
    length -= part;
  }
  return segments;
}

RequestHeader VolumeIo::HeaderFor(Op op, const Segment& segment) const {
  RequestHeader header;
  header.op = op;
  header.block_size = volume_->block_size();
  header.chunk = static_cast<uint32_t>(segment.chunk);
  header.volume = volume_->id();
  header.offset = segment.piece_offset;
  header.generation = volume_->generation();
  header.length = segment.length;
  return header;
}

asio::awaitable<base::Status> VolumeIo::Replicate(const Segment& segment, RequestHeader header,
                                                  std::string_view payload) {
  if (volume_->fenced()) {
    co_return base::Conflict("volume " + volume_->name() + " was opened by another writer");
  }
  const master::ChunkPlacement placement = volume_->Chunk(segment.chunk);
  std::vector<Call> calls;
  for (const std::string& node : placement.nodes) {
    if (std::find(placement.stale.begin(), placement.stale.end(), node) != placement.stale.end()) {
      continue;
    }
    const auto endpoint = volume_->EndpointOf(node);
    calls.push_back({node, endpoint ? links_.Get(*endpoint) : nullptr, std::nullopt});
  }
  co_await CallEach(calls, header, payload);
  uint32_t took = 0;
  std::string why;
  for (const Call& call : calls) {
    if (call.reply->ok() && (*call.reply)->status == Status::kOk) {
      ++took;
      continue;
    }
    if (call.reply->ok() && (*call.reply)->status == Status::kStale) {
      volume_->Fence();
      spdlog::error(
          "volume {}: {} refused a write as fenced: another writer opened the volume; "
          "this one stops writing",
          volume_->name(), call.node);
      co_return base::Conflict("volume " + volume_->name() + " was opened by another writer");
    }
    if (call.reply->ok() && (*call.reply)->status == Status::kInvalid) {
      co_return base::InvalidArgument(fmt::format("{} refused the request as invalid", call.node));
    }
    why = call.reply->ok() ? call.node + ": " + proto::block::StatusName((*call.reply)->status)
                           : call.reply->error().message;
    // The copy missed the write: stale before the write counts as done.
    if (base::Status marked = co_await mark_stale_(segment.chunk, call.node); !marked) {
      co_return base::Unavailable(fmt::format("chunk {}: {}; and marking it stale failed: {}",
                                              segment.chunk, why, marked.error().message));
    }
  }
  if (took < volume_->redundancy().write_quorum()) {
    co_return base::Unavailable(fmt::format("chunk {}: {} of {} copies took the write ({})",
                                            segment.chunk, took, placement.nodes.size(), why));
  }
  co_return base::Status();
}

asio::awaitable<base::Status> VolumeIo::ReadSegment(const Segment& segment, char* out) {
  const master::ChunkPlacement placement = volume_->Chunk(segment.chunk);
  std::vector<std::string> copies;
  for (const std::string& node : placement.nodes) {
    if (std::find(placement.stale.begin(), placement.stale.end(), node) == placement.stale.end()) {
      copies.push_back(node);
    }
  }
  if (copies.empty()) {
    co_return base::Unavailable(fmt::format("chunk {} has no up-to-date copy", segment.chunk));
  }
  const RequestHeader header = HeaderFor(Op::kRead, segment);
  const size_t first = reads_++ % copies.size();
  std::vector<std::string> corrupt;
  std::string why;
  for (size_t i = 0; i < copies.size(); ++i) {
    const std::string& node = copies[(first + i) % copies.size()];
    const auto endpoint = volume_->EndpointOf(node);
    if (!endpoint) {
      why = node + " is down";
      continue;
    }
    std::shared_ptr<NodeLink> link = links_.Get(*endpoint);
    base::Result<NodeLink::Reply> reply = co_await link->Call(header, {});
    if (!reply) {
      why = reply.error().message;
      continue;
    }
    if (reply->status == Status::kCorrupt) {
      corrupt.push_back(node);
      why = node + ": a block failed its checksum";
      continue;
    }
    if (reply->status != Status::kOk || reply->data.size() != segment.length) {
      why = node + ": " + proto::block::StatusName(reply->status);
      continue;
    }
    std::memcpy(out, reply->data.data(), segment.length);
    // Mend the bad copies from this one: only their blocks that are still bad change.
    RequestHeader repair = header;
    repair.op = Op::kRepair;
    for (const std::string& bad : corrupt) {
      if (const auto at = volume_->EndpointOf(bad)) {
        base::Result<NodeLink::Reply> mended = co_await links_.Get(*at)->Call(repair, reply->data);
        if (!mended || mended->status != Status::kOk) {
          spdlog::warn("volume {} chunk {}: mending the copy on {} failed", volume_->name(),
                       segment.chunk, bad);
        }
      }
    }
    co_return base::Status();
  }
  co_return base::Unavailable(
      fmt::format("chunk {}: no copy could be read ({})", segment.chunk, why));
}

asio::awaitable<base::Status> VolumeIo::Read(uint64_t offset, uint32_t length, std::string* data) {
  data->resize(length);
  for (const Segment& segment : Split(offset, length)) {
    base::Status read =
        co_await ReadSegment(segment, data->data() + (segment.volume_offset - offset));
    if (!read) {
      co_return read;
    }
  }
  co_return base::Status();
}

asio::awaitable<base::Status> VolumeIo::Write(uint64_t offset, std::string_view data, bool fua) {
  for (const Segment& segment : Split(offset, data.size())) {
    RequestHeader header = HeaderFor(Op::kWrite, segment);
    header.flags = fua ? proto::block::kFlagFua : 0;
    base::Status written = co_await Replicate(
        segment, header, data.substr(segment.volume_offset - offset, segment.length));
    if (!written) {
      co_return written;
    }
  }
  co_return base::Status();
}

asio::awaitable<base::Status> VolumeIo::Zero(uint64_t offset, uint64_t length, bool fua) {
  for (const Segment& segment : Split(offset, length)) {
    RequestHeader header = HeaderFor(Op::kZero, segment);
    header.flags = fua ? proto::block::kFlagFua : 0;
    base::Status zeroed = co_await Replicate(segment, header, {});
    if (!zeroed) {
      co_return zeroed;
    }
  }
  co_return base::Status();
}

asio::awaitable<base::Status> VolumeIo::Flush() {
  std::vector<Call> calls;
  for (const std::string& node : volume_->Nodes()) {
    const auto endpoint = volume_->EndpointOf(node);
    calls.push_back({node, endpoint ? links_.Get(*endpoint) : nullptr, std::nullopt});
  }
  RequestHeader header;
  header.op = Op::kFlush;
  co_await CallEach(calls, header, {});
  // A node that failed the flush may lose writes it took: each of its pieces is stale
  // then, and the flush holds if every chunk keeps a majority of flushed copies.
  for (const Call& call : calls) {
    if (call.reply->ok() && (*call.reply)->status == Status::kOk) {
      continue;
    }
    const uint64_t chunks = (volume_->size() + volume_->chunk_size() - 1) / volume_->chunk_size();
    for (uint64_t chunk = 0; chunk < chunks; ++chunk) {
      const master::ChunkPlacement placement = volume_->Chunk(chunk);
      const bool holds = std::find(placement.nodes.begin(), placement.nodes.end(), call.node) !=
                         placement.nodes.end();
      const bool stale = std::find(placement.stale.begin(), placement.stale.end(), call.node) !=
                         placement.stale.end();
      if (holds && !stale) {
        if (base::Status marked = co_await mark_stale_(chunk, call.node); !marked) {
          co_return base::Unavailable("flush: " + call.node +
                                      " failed, and marking its pieces "
                                      "stale failed: " +
                                      marked.error().message);
        }
      }
    }
  }
  const uint64_t chunks = (volume_->size() + volume_->chunk_size() - 1) / volume_->chunk_size();
  for (uint64_t chunk = 0; chunk < chunks; ++chunk) {
    const master::ChunkPlacement placement = volume_->Chunk(chunk);
    if (placement.nodes.size() - placement.stale.size() < volume_->redundancy().write_quorum()) {
      co_return base::Unavailable(fmt::format("flush: chunk {} keeps {} up-to-date copies", chunk,
                                              placement.nodes.size() - placement.stale.size()));
    }
  }
  co_return base::Status();
}

}  // namespace trellis::block
