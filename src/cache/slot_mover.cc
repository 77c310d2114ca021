#include "cache/slot_mover.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "base/clock.h"
#include "base/cluster_slot.h"
#include "net/address.h"
#include "net/client_stream.h"
#include "net/waker.h"
#include "proto/memcache/base64.h"

namespace trellis::cache {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kReplyTimeout = std::chrono::seconds(5);
// Reply bytes read at once: a batch's replies (64 of "HD\r\n") in one read.
constexpr size_t kReadChunk = 4096;
// After a failed batch, or while the node may not move.
constexpr auto kPause = std::chrono::milliseconds(200);

// One key copied out of the store.
struct MovingItem {
  std::string key;
  std::string value;
  uint32_t client_flags = 0;
  uint32_t exptime = 0;
  uint64_t cas = 0;
  bool key_binary = false;
};

// The move-in store of `item` (docs/scale-out.md, "On the wire"). T gets the absolute
// expiry time: above 30 days, memcached reads it as one, so the remaining time is kept
// to the second whatever it is.
void AppendMoveIn(const MovingItem& item, std::string* out) {
  out->append("ms ");
  out->append(item.key_binary ? proto::memcache::Base64Encode(item.key) : item.key);
  out->append(" ").append(std::to_string(item.value.size()));
  out->append(" X F").append(std::to_string(item.client_flags));
  out->append(" T").append(std::to_string(item.exptime));
  out->append(" E").append(std::to_string(item.cas));
  if (item.key_binary) {
    out->append(" b");
  }
  out->append("\r\n").append(item.value).append("\r\n");
}

}  // namespace

struct SlotMover::State {
  State(Store& store, asio::any_io_executor executor, base::Registry& metrics,
        std::function<bool()> may_move, std::shared_ptr<net::TlsClientContext> tls)
      : store(store),
        executor(executor),
        tls(std::move(tls)),
        may_move(std::move(may_move)),
        moved_keys(metrics.GetCounter("trellis_cache_moved_keys_total",
                                      "Keys this node moved to another group (slot moves).")),
        moved_bytes(metrics.GetCounter("trellis_cache_moved_bytes_total",
                                       "Value bytes this node moved to another group.")),
        waker(executor) {}

  // `self` keeps the state alive while the coroutine runs.
  asio::awaitable<void> Run(std::shared_ptr<State> self);
  // Moves `batch` to `target` at the rate, and empties it. False if that failed.
  asio::awaitable<bool> Flush(const std::string& target, std::vector<MovingItem>* batch,
                              size_t* bytes);
  // Copies `batch` to `target`, then deletes here what the target answered for.
  asio::awaitable<bool> Transfer(const std::string& target, const std::vector<MovingItem>& batch);
  asio::awaitable<bool> Connect(const std::string& target);
  // Waits until `keys` more keys fit in the rate.
  asio::awaitable<void> Throttle(size_t keys);
  // Whether the tasks changed since `generation`.
  bool Changed(uint64_t seen) const { return generation != seen; }

  Store& store;
  const asio::any_io_executor executor;
  const std::shared_ptr<net::TlsClientContext> tls;
  const std::function<bool()> may_move;
  base::Counter& moved_keys;
  base::Counter& moved_bytes;
  net::Waker waker;
  // The executor's thread only:
  std::vector<SlotMoveTask> tasks;
  uint64_t rate = 0;
  uint64_t generation = 0;  // Bumped by every Update that changes the tasks.
  std::optional<net::ClientStream> stream;
  std::string connected_to;
  Clock::time_point next_send{};
  std::string request, replies;
};

SlotMover::SlotMover(Store& store, asio::any_io_executor executor, base::Registry& metrics,
                     std::function<bool()> may_move, std::shared_ptr<net::TlsClientContext> tls)
    : state_(
          std::make_shared<State>(store, executor, metrics, std::move(may_move), std::move(tls))) {
  asio::co_spawn(executor, state_->Run(state_), asio::detached);
}

SlotMover::~SlotMover() = default;

void SlotMover::Update(std::vector<SlotMoveTask> tasks, uint64_t rate) {
  asio::post(state_->executor, [state = state_, tasks = std::move(tasks), rate]() mutable {
    if (tasks != state->tasks) {
      state->tasks = std::move(tasks);
      ++state->generation;
    }
    state->rate = rate;
    state->waker.Wake();
  });
}

asio::awaitable<void> SlotMover::State::Run([[maybe_unused]] std::shared_ptr<State> self) {
  std::vector<MovingItem> batch;
  for (;;) {
    // One walk over the slots still holding keys (the master flips the empty ones); a
    // batch takes keys of several slots when they are small.
    const uint64_t seen = generation;
    bool moved_any = false;
    bool failed = false;
    size_t batch_bytes = 0;
    std::string batch_target;
    batch.clear();
    for (size_t i = 0; i < tasks.size() && !failed && !Changed(seen) && may_move(); ++i) {
      const SlotMoveTask task = tasks[i];
      if (store.UsageOfSlot(task.slot).items == 0) {
        continue;
      }
      moved_any = true;
      if (!batch.empty() && task.target != batch_target) {
        failed = !co_await Flush(batch_target, &batch, &batch_bytes);
      }
      batch_target = task.target;
      uint64_t cursor = 0;
      do {
        const size_t room = kBatchKeys - std::min(batch.size(), kBatchKeys - 1);
        cursor = store.ForEachItemOfSlot(
            task.slot, cursor, room, [&batch, &batch_bytes](const Item& item) {
              // Past the budget, the rest of this run of buckets waits for the next walk.
              // (An invalidated item, meta I, moves as a plain one: it loses its mark.)
              if (batch_bytes >= kBatchBytes) {
                return;
              }
              batch.push_back({std::string(item.key()), std::string(item.value()),
                               item.client_flags, item.exptime, item.cas, item.key_binary != 0});
              batch_bytes += item.value_length;
            });
        if (batch.size() >= kBatchKeys || batch_bytes >= kBatchBytes) {
          failed = !co_await Flush(batch_target, &batch, &batch_bytes);
        }
      } while (cursor != 0 && !failed && !Changed(seen));
    }
    if (!batch.empty() && !failed && !Changed(seen) && may_move()) {
      failed = !co_await Flush(batch_target, &batch, &batch_bytes);
    }
    if (Changed(seen)) {
      continue;
    }
    if (!moved_any || failed || !may_move()) {
      // Nothing to do until the tasks change; look again now and then for items that
      // were stored meanwhile by clients that bypass the access nodes.
      co_await waker.WaitUntil(Clock::now() + (!moved_any && !failed ? kPause * 5 : kPause));
    }
  }
}

asio::awaitable<bool> SlotMover::State::Flush(const std::string& target,
                                              std::vector<MovingItem>* batch, size_t* bytes) {
  const uint64_t seen = generation;
  co_await Throttle(batch->size());
  // Moves changed meanwhile (other slots began, or the node is no main): what still moves
  // to `target` goes; dropping the whole batch at every new map lost a fifth of the rate.
  if (Changed(seen)) {
    std::erase_if(*batch, [this, &target](const MovingItem& item) {
      const uint32_t slot = base::ClusterSlotOf(item.key);
      return std::none_of(tasks.begin(), tasks.end(), [&](const SlotMoveTask& task) {
        return task.slot == slot && task.target == target;
      });
    });
  }
  bool moved = true;
  if (!batch->empty() && may_move()) {  // Not `a && co_await`: g++ 12 evaluates it anyway.
    moved = co_await Transfer(target, *batch);
  }
  batch->clear();
  *bytes = 0;
  co_return moved;
}

asio::awaitable<void> SlotMover::State::Throttle(size_t keys) {
  // No rate (a map that has the moves but not yet their rate): nothing moves until one
  // comes. Taken as one key a second, it put the next batch a minute away.
  while (rate == 0) {
    co_await waker.Wait();
  }
  const Clock::time_point now = Clock::now();
  // No credit builds up while idle beyond a tenth of a second's worth.
  next_send = std::max(next_send, now - std::chrono::milliseconds(100));
  next_send += std::chrono::microseconds(keys * 1'000'000 / rate);
  // An Update cuts the wait short: Flush then sees whether the tasks changed.
  if (next_send > now) {
    co_await waker.WaitUntil(next_send);
  }
}

asio::awaitable<bool> SlotMover::State::Connect(const std::string& target) {
  if (stream && connected_to == target) {
    co_return true;
  }
  stream.reset();
  auto address = net::ParseHostPort(target);
  auto endpoint =
      address ? net::Resolve(*address) : base::Result<asio::ip::tcp::endpoint>(address.error());
  if (!endpoint) {
    spdlog::warn("moving slots to {}: {}", target, endpoint.error().message);
    co_return false;
  }
  net::ClientStream::Peer peer{address->host, {*endpoint}};
  base::Result<net::ClientStream> opened =
      co_await net::ClientStream::Open(std::move(peer), tls.get(), Clock::now() + kReplyTimeout);
  if (!opened) {
    spdlog::warn("moving slots to {}: {}", target, opened.error().message);
    co_return false;
  }
  stream.emplace(std::move(opened).value());
  connected_to = target;
  co_return true;
}

asio::awaitable<bool> SlotMover::State::Transfer(const std::string& target,
                                                 const std::vector<MovingItem>& batch) {
  if (!co_await Connect(target)) {
    co_return false;
  }
  request.clear();
  for (const MovingItem& item : batch) {
    AppendMoveIn(item, &request);
  }
  stream->tcp().expires_after(kReplyTimeout);
  const auto [write_error, written] = co_await asio::async_write(
      *stream, asio::buffer(request), asio::as_tuple(asio::use_awaitable));
  bool ok = !write_error;
  size_t answered = 0;  // The first `answered` items are on the target (or newer there).
  // The replies as they arrive, each read taking every line it holds: a read per line
  // (async_read_until) completed most from the buffer, and each such completion is a turn
  // of the event loop: 64 of them a batch made the mover thread the busiest of a source
  // node while it moved.
  replies.clear();
  size_t parsed = 0;
  while (ok && answered < batch.size()) {
    const size_t end = replies.find("\r\n", parsed);
    if (end == std::string::npos) {
      const size_t held = replies.size();
      replies.resize(held + kReadChunk);
      const auto [read_error, read] = co_await stream->async_read_some(
          asio::buffer(replies.data() + held, kReadChunk), asio::as_tuple(asio::use_awaitable));
      replies.resize(held + read);
      ok = !read_error;
      continue;
    }
    const std::string_view line(replies.data() + parsed, end - parsed);
    if (line == "HD" || line == "NS") {
      ++answered;
    } else {
      spdlog::warn("moving slots to {}: {}", target, line);
      ok = false;
    }
    parsed = end + 2;
  }
  const uint32_t now = base::CoarseUnixSeconds();
  for (size_t i = 0; i < answered; ++i) {
    const MovingItem& item = batch[i];
    Store::Slot slot = store.Lock(item.key, now);
    const Item* current = slot.Find();
    if (current != nullptr && current->cas == item.cas) {
      slot.Erase(MutationOp::kMoveOut);
      moved_keys.Increment();
      moved_bytes.Increment(item.value.size());
    }
  }
  if (!ok) {
    stream.reset();  // Replies may be out of step: start afresh.
  }
  co_return ok;
}

}  // namespace trellis::cache
