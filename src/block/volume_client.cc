#include "block/volume_client.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

namespace trellis::block {

namespace asio = boost::asio;
using proto::block::Op;
using proto::block::RequestHeader;
using proto::block::Status;

namespace {

// The most volume bytes an erasure-coded change codes at once: a 64 MiB TRIM is done in
// windows, not in buffers of its whole size.
constexpr uint64_t kCodedWindow = 4 << 20;

bool Contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
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
  // Merged, not replaced: the master's answers to marks made at once may come back in any
  // order, and an older one must not take a newer mark back.
  std::lock_guard lock(mu_);
  if (state.generation != generation_ || state.chunks.size() != chunks_.size()) {
    return;
  }
  for (size_t i = 0; i < chunks_.size(); ++i) {
    for (const std::string& node : state.chunks[i].stale) {
      if (!Contains(chunks_[i].stale, node)) {
        chunks_[i].stale.push_back(node);
      }
    }
  }
}

void OpenedVolume::SetEndpoints(std::map<std::string, asio::ip::tcp::endpoint> nodes) {
  std::lock_guard lock(mu_);
  endpoints_ = std::move(nodes);
}

asio::awaitable<void> OpenedVolume::LockStripes(uint64_t chunk, uint64_t first, uint64_t last) {
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  for (;;) {
    std::shared_ptr<net::Waker> waker;
    {
      std::lock_guard lock(stripes_mu_);
      const bool taken = std::any_of(
          locked_stripes_.begin(), locked_stripes_.end(), [&](const StripeRange& range) {
            return range.chunk == chunk && range.first <= last && first <= range.last;
          });
      if (!taken) {
        locked_stripes_.push_back({chunk, first, last});
        co_return;
      }
      waker = std::make_shared<net::Waker>(executor);
      stripe_waiters_.push_back({executor, waker});
    }
    co_await waker->Wait();  // Then look again: another waiter may have been first.
  }
}

void OpenedVolume::UnlockStripes(uint64_t chunk, uint64_t first, uint64_t last) {
  std::vector<StripeWaiter> waiters;
  {
    std::lock_guard lock(stripes_mu_);
    std::erase_if(locked_stripes_, [&](const StripeRange& range) {
      return range.chunk == chunk && range.first == first && range.last == last;
    });
    waiters.swap(stripe_waiters_);
  }
  for (StripeWaiter& waiter : waiters) {
    // A Waker is woken on its own shard.
    asio::post(waiter.executor, [waker = std::move(waiter.waker)] { waker->Wake(); });
  }
}

std::shared_ptr<NodeLink> NodeLinks::Get(const asio::ip::tcp::endpoint& endpoint) {
  std::shared_ptr<NodeLink>& link = links_[endpoint];
  if (link == nullptr) {
    link = NodeLink::Create(executor_, endpoint, options_);
  }
  return link;
}

VolumeIo::VolumeIo(std::shared_ptr<OpenedVolume> volume, NodeLinks& links, StaleMarker mark_stale)
    : volume_(std::move(volume)), links_(links), mark_stale_(std::move(mark_stale)) {
  const master::Redundancy& redundancy = volume_->redundancy();
  if (!redundancy.IsReplica()) {
    code_.emplace(static_cast<int>(redundancy.data), static_cast<int>(redundancy.parity));
  }
}

std::vector<VolumeIo::Segment> VolumeIo::Split(uint64_t offset, uint64_t length) const {
  std::vector<Segment> segments;
  const uint64_t chunk_size = volume_->chunk_size();
  while (length > 0) {
    const uint64_t chunk = offset / chunk_size;
    const uint64_t within = offset % chunk_size;
    const uint64_t part = std::min(length, chunk_size - within);
    segments.push_back({chunk, within, offset, part});
    offset += part;
    length -= part;
  }
  return segments;
}

RequestHeader VolumeIo::Header(Op op, uint64_t chunk, uint64_t piece_offset,
                               uint64_t length) const {
  RequestHeader header;
  header.op = op;
  header.block_size = volume_->block_size();
  header.chunk = static_cast<uint32_t>(chunk);
  header.volume = volume_->id();
  header.offset = piece_offset;
  header.generation = volume_->generation();
  header.length = static_cast<uint32_t>(length);
  return header;
}

std::vector<VolumeIo::Call> VolumeIo::CallsTo(uint64_t chunk,
                                              const std::function<bool(size_t)>& want) {
  const master::ChunkPlacement placement = volume_->Chunk(chunk);
  std::vector<Call> calls;
  for (size_t piece = 0; piece < placement.nodes.size(); ++piece) {
    const std::string& node = placement.nodes[piece];
    if (Contains(placement.stale, node) || !want(piece)) {
      continue;
    }
    const auto endpoint = volume_->EndpointOf(node);
    Call call;
    call.node = node;
    call.piece = piece;
    call.link = endpoint ? links_.Get(*endpoint) : nullptr;
    calls.push_back(std::move(call));
  }
  return calls;
}

asio::awaitable<void> VolumeIo::CallEach(std::vector<Call>& calls) {
  struct Shared {
    explicit Shared(const asio::any_io_executor& executor) : done(executor) {}
    net::Waker done;
    size_t left = 0;
    // Moved here from the calls, so that they outlive this frame if it is cancelled.
    std::vector<RequestHeader> headers;
    std::vector<std::string> payloads;
    std::vector<std::optional<base::Result<NodeLink::Reply>>> replies;
  };
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  auto shared = std::make_shared<Shared>(executor);
  shared->replies.resize(calls.size());
  // Counted before any starts: a call may finish inside co_spawn (a link that failed just
  // now answers at once), and the last one to finish wakes this.
  for (size_t i = 0; i < calls.size(); ++i) {
    shared->headers.push_back(calls[i].header);
    shared->payloads.push_back(std::move(calls[i].payload));
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
        [shared, link = calls[i].link, i]() -> asio::awaitable<void> {
          base::Result<NodeLink::Reply> reply =
              co_await link->Call(shared->headers[i], shared->payloads[i]);
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

asio::awaitable<base::Status> VolumeIo::Settle(uint64_t chunk, std::vector<Call>& calls) {
  uint32_t took = 0;
  std::string why;
  for (const Call& call : calls) {
    if (call.ok()) {
      ++took;
      continue;
    }
    const bool replied = call.reply->ok();
    if (replied && (*call.reply)->status == Status::kStale) {
      volume_->Fence();
      spdlog::error(
          "volume {}: {} refused a write as fenced: another writer opened the volume; "
          "this one stops writing",
          volume_->name(), call.node);
      co_return base::Conflict("volume " + volume_->name() + " was opened by another writer");
    }
    if (replied && (*call.reply)->status == Status::kInvalid) {
      co_return base::InvalidArgument(fmt::format("{} refused the request as invalid", call.node));
    }
    why = replied ? call.node + ": " + proto::block::StatusName((*call.reply)->status)
                  : call.reply->error().message;
  }
  if (took < volume_->redundancy().write_quorum()) {
    // Failed: no piece is marked, so the chunk keeps every piece it can still be read from.
    co_return base::Unavailable(fmt::format("chunk {}: {} of {} pieces took the write ({})", chunk,
                                            took, volume_->redundancy().pieces(), why));
  }
  // Done once the pieces that missed it are stale: no read will meet them.
  for (const Call& call : calls) {
    if (call.ok()) {
      continue;
    }
    if (base::Status marked = co_await mark_stale_(chunk, call.node); !marked) {
      co_return base::Unavailable(
          fmt::format("chunk {}: {} missed a write, and marking it stale "
                      "failed: {}",
                      chunk, call.node, marked.error().message));
    }
  }
  co_return base::Status();
}

asio::awaitable<base::Status> VolumeIo::Replicate(const Segment& segment, Op op, uint8_t flags,
                                                  std::string_view payload) {
  std::vector<Call> calls = CallsTo(segment.chunk, [](size_t) { return true; });
  for (Call& call : calls) {
    call.header = Header(op, segment.chunk, segment.chunk_offset, segment.length);
    call.header.flags = flags;
    call.payload = std::string(payload);
  }
  co_await CallEach(calls);
  co_return co_await Settle(segment.chunk, calls);
}

asio::awaitable<base::Status> VolumeIo::ReadCopy(const Segment& segment, char* out) {
  const RequestHeader header =
      Header(Op::kRead, segment.chunk, segment.chunk_offset, segment.length);
  std::vector<Call> copies = CallsTo(segment.chunk, [](size_t) { return true; });
  if (copies.empty()) {
    co_return base::Unavailable(fmt::format("chunk {} has no up-to-date copy", segment.chunk));
  }
  const size_t first = reads_++ % copies.size();
  std::vector<std::string> corrupt;
  std::string why;
  for (size_t i = 0; i < copies.size(); ++i) {
    const Call& copy = copies[(first + i) % copies.size()];
    if (copy.link == nullptr) {
      why = copy.node + " is down";
      continue;
    }
    base::Result<NodeLink::Reply> reply = co_await copy.link->Call(header, {});
    if (!reply) {
      why = reply.error().message;
      continue;
    }
    if (reply->status == Status::kCorrupt) {
      corrupt.push_back(copy.node);
      why = copy.node + ": a block failed its checksum";
      continue;
    }
    if (reply->status != Status::kOk || reply->data.size() != segment.length) {
      why = copy.node + ": " + proto::block::StatusName(reply->status);
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

asio::awaitable<base::Result<std::vector<std::string>>> VolumeIo::ReadStripes(uint64_t chunk,
                                                                              uint64_t first,
                                                                              uint64_t last) {
  const size_t k = static_cast<size_t>(code_->k());
  const uint64_t block = volume_->block_size();
  const uint64_t length = (last - first + 1) * block;
  std::vector<std::string> pieces(k + static_cast<size_t>(code_->m()));
  std::vector<bool> have(pieces.size(), false);
  std::vector<std::string> corrupt;
  std::string why;
  size_t got = 0;
  // The data pieces first; parity pieces only for what they could not give.
  for (const bool parity : {false, true}) {
    std::vector<Call> calls =
        CallsTo(chunk, [&](size_t piece) { return parity ? piece >= k : piece < k; });
    for (Call& call : calls) {
      call.header = Header(Op::kRead, chunk, first * block, length);
    }
    co_await CallEach(calls);
    for (Call& call : calls) {
      if (call.ok() && (*call.reply)->data.size() == length) {
        pieces[call.piece] = std::move((*call.reply)->data);
        have[call.piece] = true;
        ++got;
      } else if (call.reply->ok() && (*call.reply)->status == Status::kCorrupt) {
        corrupt.push_back(call.node);
        why = call.node + ": a block failed its checksum";
      } else {
        why = call.reply->ok() ? call.node + ": " + proto::block::StatusName((*call.reply)->status)
                               : call.reply->error().message;
      }
    }
    if (!parity && got == k) {
      pieces.resize(k);
      co_return pieces;
    }
  }
  if (got < k) {
    co_return base::Unavailable(
        fmt::format("chunk {}: {} of {} pieces could be read, {} needed ({})", chunk, got,
                    pieces.size(), k, why));
  }
  std::vector<std::pair<int, const uint8_t*>> sources;
  for (size_t piece = 0; piece < pieces.size() && sources.size() < k; ++piece) {
    if (have[piece]) {
      sources.emplace_back(static_cast<int>(piece),
                           reinterpret_cast<const uint8_t*>(pieces[piece].data()));
    }
  }
  std::vector<std::string> data(k, std::string(length, '\0'));
  std::vector<uint8_t*> outputs;
  for (std::string& piece : data) {
    outputs.push_back(reinterpret_cast<uint8_t*>(piece.data()));
  }
  if (!code_->Decode(length, sources, outputs)) {
    co_return base::Error{fmt::format("chunk {}: the pieces read do not decode", chunk)};
  }
  // Mend pieces whose checksum failed: a data piece from its decoded bytes.
  const master::ChunkPlacement placement = volume_->Chunk(chunk);
  for (const std::string& bad : corrupt) {
    const size_t piece = static_cast<size_t>(
        std::find(placement.nodes.begin(), placement.nodes.end(), bad) - placement.nodes.begin());
    const auto at = volume_->EndpointOf(bad);
    if (piece < k && at) {
      RequestHeader repair = Header(Op::kRepair, chunk, first * block, length);
      base::Result<NodeLink::Reply> mended = co_await links_.Get(*at)->Call(repair, data[piece]);
      if (!mended || mended->status != Status::kOk) {
        spdlog::warn("volume {} chunk {}: mending the piece on {} failed", volume_->name(), chunk,
                     bad);
      }
    }
  }
  co_return data;
}

std::vector<VolumeIo::StripeWindow> VolumeIo::Windows(const Segment& segment) const {
  const uint64_t block = volume_->block_size();
  const uint64_t k = static_cast<uint64_t>(code_->k());
  const uint64_t first_block = segment.chunk_offset / block;
  const uint64_t end_block = first_block + segment.length / block;
  const uint64_t stripes_per_window = std::max<uint64_t>(1, kCodedWindow / (block * k));
  std::vector<StripeWindow> windows;
  for (uint64_t b = first_block; b < end_block;) {
    StripeWindow window;
    window.first = b / k;
    window.last = std::min((end_block - 1) / k, window.first + stripes_per_window - 1);
    window.begin = b - first_block;
    b = std::min(end_block, (window.last + 1) * k);
    window.end = b - first_block;
    window.whole = window.begin + first_block == window.first * k && b == (window.last + 1) * k;
    windows.push_back(window);
  }
  return windows;
}

asio::awaitable<base::Status> VolumeIo::ReadCoded(const Segment& segment, char* out) {
  const uint64_t block = volume_->block_size();
  const uint64_t k = static_cast<uint64_t>(code_->k());
  const uint64_t first_block = segment.chunk_offset / block;
  for (const StripeWindow& window : Windows(segment)) {
    // Under the stripes' lock: pieces read across a write of the stripes would decode
    // into bytes nobody wrote.
    co_await volume_->LockStripes(segment.chunk, window.first, window.last);
    base::Result<std::vector<std::string>> data =
        co_await ReadStripes(segment.chunk, window.first, window.last);
    volume_->UnlockStripes(segment.chunk, window.first, window.last);
    if (!data) {
      co_return data.error();
    }
    for (uint64_t i = window.begin; i < window.end; ++i) {
      const uint64_t b = first_block + i;
      std::memcpy(out + i * block, (*data)[b % k].data() + (b / k - window.first) * block, block);
    }
  }
  co_return base::Status();
}

asio::awaitable<base::Status> VolumeIo::WriteCoded(const Segment& segment, const char* data,
                                                   uint8_t flags) {
  const uint64_t block = volume_->block_size();
  const size_t k = static_cast<size_t>(code_->k());
  const size_t pieces = k + static_cast<size_t>(code_->m());
  const uint64_t first_block = segment.chunk_offset / block;
  for (const StripeWindow& window : Windows(segment)) {
    const uint64_t first = window.first;
    const uint64_t last = window.last;
    const uint64_t length = (last - first + 1) * block;
    co_await volume_->LockStripes(segment.chunk, first, last);
    // The stripes as they are, unless this write covers them whole.
    std::vector<std::string> stripe(k);
    if (window.whole) {
      for (std::string& piece : stripe) {
        piece.assign(length, '\0');
      }
    } else {
      base::Result<std::vector<std::string>> read =
          co_await ReadStripes(segment.chunk, first, last);
      if (!read) {
        volume_->UnlockStripes(segment.chunk, first, last);
        co_return read.error();
      }
      stripe = std::move(read).value();
    }
    for (uint64_t i = window.begin; i < window.end; ++i) {
      const uint64_t b = first_block + i;
      char* to = stripe[b % k].data() + (b / k - first) * block;
      if (data != nullptr) {
        std::memcpy(to, data + i * block, block);
      } else {
        std::memset(to, 0, block);
      }
    }
    std::vector<std::string> parity(pieces - k, std::string(length, '\0'));
    std::vector<const uint8_t*> inputs;
    for (const std::string& piece : stripe) {
      inputs.push_back(reinterpret_cast<const uint8_t*>(piece.data()));
    }
    std::vector<uint8_t*> outputs;
    for (std::string& piece : parity) {
      outputs.push_back(reinterpret_cast<uint8_t*>(piece.data()));
    }
    code_->Encode(length, inputs, outputs);
    std::vector<Call> calls = CallsTo(segment.chunk, [](size_t) { return true; });
    for (Call& call : calls) {
      call.header = Header(Op::kWrite, segment.chunk, first * block, length);
      call.header.flags = flags;
      call.payload =
          call.piece < k ? std::move(stripe[call.piece]) : std::move(parity[call.piece - k]);
    }
    co_await CallEach(calls);
    // Held until the pieces that missed it are stale: the next write of these stripes
    // must not read them.
    base::Status settled = co_await Settle(segment.chunk, calls);
    volume_->UnlockStripes(segment.chunk, first, last);
    if (!settled) {
      co_return settled;
    }
  }
  co_return base::Status();
}

asio::awaitable<base::Status> VolumeIo::Read(uint64_t offset, uint32_t length, std::string* data) {
  data->resize(length);
  for (const Segment& segment : Split(offset, length)) {
    char* out = data->data() + (segment.volume_offset - offset);
    base::Status read = base::Status();
    if (code_) {  // Not in a ?: (g++ 12 and co_await).
      read = co_await ReadCoded(segment, out);
    } else {
      read = co_await ReadCopy(segment, out);
    }
    if (!read) {
      co_return read;
    }
  }
  co_return base::Status();
}

asio::awaitable<base::Status> VolumeIo::Change(uint64_t offset, uint64_t length, const char* data,
                                               uint8_t flags) {
  if (volume_->fenced()) {
    co_return base::Conflict("volume " + volume_->name() + " was opened by another writer");
  }
  // A chunk's segment in requests a storage node takes (a zeroed one can be a whole chunk).
  std::vector<Segment> segments;
  for (const Segment& segment : Split(offset, length)) {
    for (uint64_t at = 0; at < segment.length; at += proto::block::kMaxPayload) {
      const uint64_t part = std::min<uint64_t>(proto::block::kMaxPayload, segment.length - at);
      segments.push_back(
          {segment.chunk, segment.chunk_offset + at, segment.volume_offset + at, part});
    }
  }
  for (const Segment& segment : segments) {
    const char* part = data != nullptr ? data + (segment.volume_offset - offset) : nullptr;
    base::Status changed = base::Status();
    if (code_) {
      changed = co_await WriteCoded(segment, part, flags);
    } else if (part != nullptr) {
      changed =
          co_await Replicate(segment, Op::kWrite, flags, std::string_view(part, segment.length));
    } else {
      changed = co_await Replicate(segment, Op::kZero, flags, {});
    }
    if (!changed) {
      co_return changed;
    }
  }
  co_return base::Status();
}

asio::awaitable<base::Status> VolumeIo::Write(uint64_t offset, std::string_view data, bool fua) {
  co_return co_await Change(offset, data.size(), data.data(), fua ? proto::block::kFlagFua : 0);
}

asio::awaitable<base::Status> VolumeIo::Zero(uint64_t offset, uint64_t length, bool fua,
                                             bool no_hole) {
  const uint8_t flags = static_cast<uint8_t>((fua ? proto::block::kFlagFua : 0) |
                                             (no_hole ? proto::block::kFlagNoHole : 0));
  co_return co_await Change(offset, length, nullptr, flags);
}

std::vector<VolumeIo::Call> VolumeIo::CallsToEveryNode(const RequestHeader& header) {
  std::vector<Call> calls;
  for (const std::string& node : volume_->Nodes()) {
    const auto endpoint = volume_->EndpointOf(node);
    Call call;
    call.node = node;
    call.link = endpoint ? links_.Get(*endpoint) : nullptr;
    call.header = header;
    calls.push_back(std::move(call));
  }
  return calls;
}

asio::awaitable<base::Status> VolumeIo::Fence() {
  RequestHeader fence;
  fence.op = Op::kFence;
  fence.volume = volume_->id();
  fence.generation = volume_->generation();
  std::vector<Call> calls = CallsToEveryNode(fence);
  co_await CallEach(calls);
  std::vector<std::string> fenced;
  for (const Call& call : calls) {
    if (call.ok()) {
      fenced.push_back(call.node);
    }
  }
  // The writer before this one needs its quorum of a chunk's pieces: it cannot get one
  // once more than pieces - quorum of them are fenced.
  const master::Redundancy& redundancy = volume_->redundancy();
  const size_t needed = redundancy.pieces() - redundancy.write_quorum() + 1;
  for (uint64_t chunk = 0; chunk < volume_->chunk_count(); ++chunk) {
    const master::ChunkPlacement placement = volume_->Chunk(chunk);
    const auto count = static_cast<size_t>(
        std::count_if(placement.nodes.begin(), placement.nodes.end(),
                      [&](const std::string& node) { return Contains(fenced, node); }));
    if (count < needed) {
      co_return base::Unavailable(
          fmt::format("volume {}: {} of chunk {}'s nodes answered the fence, {} needed",
                      volume_->name(), count, chunk, needed));
    }
  }
  co_return base::Status();
}

asio::awaitable<base::Status> VolumeIo::Flush() {
  RequestHeader flush;
  flush.op = Op::kFlush;
  std::vector<Call> calls = CallsToEveryNode(flush);
  co_await CallEach(calls);
  // A node that failed the flush may lose writes it took: each of its pieces is stale
  // then, and the flush holds if every chunk keeps its quorum of flushed pieces.
  for (const Call& call : calls) {
    if (call.ok()) {
      continue;
    }
    for (uint64_t chunk = 0; chunk < volume_->chunk_count(); ++chunk) {
      const master::ChunkPlacement placement = volume_->Chunk(chunk);
      if (Contains(placement.nodes, call.node) && !Contains(placement.stale, call.node)) {
        if (base::Status marked = co_await mark_stale_(chunk, call.node); !marked) {
          co_return base::Unavailable(
              "flush: " + call.node +
              " failed, and marking its pieces stale failed: " + marked.error().message);
        }
      }
    }
  }
  for (uint64_t chunk = 0; chunk < volume_->chunk_count(); ++chunk) {
    const master::ChunkPlacement placement = volume_->Chunk(chunk);
    if (placement.nodes.size() - placement.stale.size() < volume_->redundancy().write_quorum()) {
      co_return base::Unavailable(fmt::format("flush: chunk {} keeps {} up-to-date pieces", chunk,
                                              placement.nodes.size() - placement.stale.size()));
    }
  }
  co_return base::Status();
}

}  // namespace trellis::block
