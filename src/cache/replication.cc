#include "cache/replication.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "base/clock.h"
#include "cache/replication_wire.h"
#include "net/address.h"
#include "net/client_stream.h"
#include "net/waker.h"

namespace trellis::cache {

namespace asio = boost::asio;

namespace {

constexpr size_t kBatchBytes = 256 * 1024;
constexpr auto kRetryInterval = std::chrono::milliseconds(200);
constexpr auto kAckInterval = std::chrono::milliseconds(5);
constexpr auto kConnectTimeout = std::chrono::seconds(1);  // And the TLS handshake.
constexpr auto kHeartbeatInterval = std::chrono::milliseconds(100);
// How long an archive's stream gathers records between writes.
constexpr auto kArchiveBatchInterval = std::chrono::milliseconds(20);

bool ParseNumber(std::string_view token, uint64_t* value) {
  auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), *value);
  return ec == std::errc() && end == token.data() + token.size();
}

// A wake-up that another thread can trigger: posts Wake() to the waker's shard.
std::function<void()> PostWake(const std::shared_ptr<net::Waker>& waker,
                               const asio::any_io_executor& executor) {
  return [waker, executor] { asio::post(executor, [waker] { waker->Wake(); }); };
}

// Reads "ack <seq>[ <token>]" lines until the connection ends, then wakes the sender.
// Only a backup's count (`backup`).
asio::awaitable<void> ReadAcknowledgements(net::Connection& connection, ReplicationLog& log,
                                           WriteGate& gate, bool backup,
                                           std::shared_ptr<net::Waker> waker,
                                           std::shared_ptr<bool> done) {
  while (co_await connection.ReadMore()) {
    for (;;) {
      const std::string_view input = connection.input();
      const size_t end = input.find('\n');
      if (end == std::string_view::npos) {
        break;
      }
      std::string_view line = input.substr(0, end);
      if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
      }
      uint64_t sequence = 0;
      uint64_t token = 0;
      if (backup && line.substr(0, 4) == "ack ") {
        line.remove_prefix(4);
        const size_t space = line.find(' ');
        if (ParseNumber(line.substr(0, space), &sequence)) {
          log.Acknowledge(sequence);
        }
        if (space != std::string_view::npos && ParseNumber(line.substr(space + 1), &token)) {
          gate.RenewByBackup(WriteGate::Clock::time_point(
              WriteGate::Clock::duration(static_cast<int64_t>(token))));
        }
      }
      connection.Consume(end + 1);
    }
  }
  *done = true;
  waker->Wake();
}

}  // namespace

bool ParseReplicateCommand(std::string_view line, ReplicateCommand* command) {
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  if (!line.starts_with(kReplicateCommand) || line.size() <= kReplicateCommand.size() ||
      line[kReplicateCommand.size()] != ' ') {
    return false;
  }
  line.remove_prefix(kReplicateCommand.size() + 1);
  constexpr std::string_view kArchive = " archive";
  command->consumer = StreamConsumer::kBackup;
  if (line.ends_with(kArchive)) {
    command->consumer = StreamConsumer::kArchive;
    line.remove_suffix(kArchive.size());
  }
  const size_t space = line.find(' ');
  return space != std::string_view::npos && ParseNumber(line.substr(0, space), &command->log_id) &&
         ParseNumber(line.substr(space + 1), &command->after);
}

asio::awaitable<void> ServeReplication(net::Connection& connection, Store& store,
                                       ReplicationLog& log, ReplicationCounters& counters,
                                       WriteGate& gate, ReplicateCommand command) {
  const auto executor = co_await asio::this_coro::executor;
  auto waker = std::make_shared<net::Waker>(executor);
  auto reader_done = std::make_shared<bool>(false);
  const bool backup = command.consumer == StreamConsumer::kBackup;
  asio::co_spawn(executor, ReadAcknowledgements(connection, log, gate, backup, waker, reader_done),
                 asio::detached);
  if (backup) {
    counters.backups.fetch_add(1);
  }
  std::string out;
  uint64_t cursor = command.after;
  bool ok = true;
  const uint64_t continued_as = log.ContinuationOf(command.log_id, command.after);
  if (continued_as != 0 && continued_as != command.log_id) {
    AppendContinuation(continued_as, &out);
  }
  if (continued_as == 0 || !log.CopyAfter(&cursor, 0, &out)) {
    // A snapshot, stripe by stripe, then the log from where it started.
    cursor = log.last_sequence();
    out.clear();
    AppendSnapshotStart(log.log_id(), &out);
    for (size_t stripe = 0; ok && stripe < Store::kStripeCount; ++stripe) {
      store.ForEachItem(stripe, [&out](const Item& item) {
        AppendRecordFrame({0, MutationOp::kStore, item.key(), item.value(), item.client_flags,
                           item.exptime, item.cas, item.time},
                          &out);
      });
      if (out.size() >= kBatchBytes || stripe + 1 == Store::kStripeCount) {
        ok = co_await connection.Write(out);
        out.clear();
      }
    }
    AppendSnapshotEnd(cursor, &out);
  }
  auto next_heartbeat = std::chrono::steady_clock::now();
  asio::steady_timer batch_timer(executor);
  uint64_t armed_after = UINT64_MAX;  // The cursor a data wake-up is registered for.
  while (ok && !*reader_done) {
    if (!log.CopyAfter(&cursor, kBatchBytes, &out)) {
      break;  // Fell out of the log: the backup reconnects and gets a snapshot.
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_heartbeat) {
      // After the records copied: it stands for everything before it in the stream.
      AppendHeartbeat(
          {static_cast<uint64_t>(now.time_since_epoch().count()), base::UnixMilliseconds(),
           static_cast<uint32_t>(gate.lease_length().count()), gate.frozen()},
          &out);
      next_heartbeat = now + kHeartbeatInterval;
    }
    if (!out.empty()) {
      ok = co_await connection.Write(out);
      out.clear();
      if (!backup) {
        // An archive needs no record at once: what comes meanwhile goes in one write
        // (sent as it came, the stream cost the main a sixth of its throughput).
        batch_timer.expires_after(kArchiveBatchInterval);
        co_await batch_timer.async_wait(asio::as_tuple(asio::use_awaitable));
      }
      continue;
    }
    if (armed_after != cursor) {
      log.NotifyAfter(cursor, PostWake(waker, executor));
      armed_after = cursor;
    }
    co_await waker->WaitUntil(next_heartbeat);
  }
  if (backup && counters.backups.fetch_sub(1) == 1) {
    counters.alone_since_ns = std::chrono::steady_clock::now().time_since_epoch().count();
  }
  connection.Abort();
  while (!*reader_done) {
    co_await waker->Wait();
  }
}

void ApplyRecord(Store& store, const MutationRecord& record, uint32_t now) {
  switch (record.op) {
    case MutationOp::kStore:
    case MutationOp::kMoveIn: {
      Store::Slot slot = store.Lock(record.key, now);
      Item* item = slot.Allocate(static_cast<uint32_t>(record.value.size()), record.client_flags,
                                 record.exptime);
      if (item != nullptr) {
        std::memcpy(item->mutable_value(), record.value.data(), record.value.size());
        if (record.op == MutationOp::kMoveIn) {
          slot.CommitMovedIn(item, record.cas);
        } else {
          slot.Commit(item, record.cas);
        }
      }
      break;
    }
    case MutationOp::kDelete:
    case MutationOp::kExpire:
    case MutationOp::kEvict:
    case MutationOp::kMoveOut:
      store.Lock(record.key, now).Erase(record.op);
      break;
    case MutationOp::kTouch: {
      Store::Slot slot = store.Lock(record.key, now);
      if (slot.Find() != nullptr) {
        slot.SetExptime(record.exptime);
      }
      break;
    }
    case MutationOp::kFlush: {
      // exptime is the main's oldest live time: replay the same flush_all.
      const int64_t delay = int64_t{record.exptime} >= int64_t{record.timestamp}
                                ? int64_t{record.exptime} - record.timestamp + 1
                                : 0;
      store.FlushAll(record.timestamp, delay);
      break;
    }
  }
}

namespace {

// Sends "ack <applied>[ <heartbeat token>]"; false if the connection broke.
asio::awaitable<bool> Acknowledge(net::ClientStream& stream, uint64_t applied,
                                  uint64_t heartbeat_token) {
  const std::string ack = "ack " + std::to_string(applied) +
                          (heartbeat_token != 0 ? " " + std::to_string(heartbeat_token) : "") +
                          "\r\n";
  auto [error, written] =
      co_await asio::async_write(stream, asio::buffer(ack), asio::as_tuple(asio::use_awaitable));
  co_return !error;
}

// Applies every whole frame in `input`; returns the bytes used, or npos on a bad frame
// or once this node no longer follows this stream (`generation` changed: it was
// promoted, or follows another main; nothing more of this stream may land). A
// heartbeat's token goes to `*heartbeat_token`, to be acknowledged.
size_t ApplyFrames(std::string_view input, Store& store, ReplicationLog& log, ReplicaState& state,
                   uint64_t* snapshot_log_id, uint64_t generation, uint64_t* heartbeat_token) {
  const uint32_t now = base::CoarseUnixSeconds();
  size_t used = 0;
  for (;;) {
    if (state.generation() != generation) {
      return std::string_view::npos;
    }
    ReplicationFrame frame;
    size_t consumed = 0;
    const auto status = ParseReplicationFrame(input.substr(used), &frame, &consumed);
    if (status == FrameStatus::kBad) {
      return std::string_view::npos;
    }
    if (status == FrameStatus::kNeedMore) {
      return used;
    }
    used += consumed;
    if (frame.type == 'F') {
      store.FlushAll(now, 0, /*report=*/false);  // A snapshot replaces everything.
      state.applied = 0;  // Nothing of this log until the snapshot is complete.
      log.FollowFrom(0, 0);
      *snapshot_log_id = frame.value;
      state.snapshots.fetch_add(1);
    } else if (frame.type == 'E') {
      state.applied = frame.value;
      log.FollowFrom(*snapshot_log_id, frame.value);
    } else if (frame.type == 'C') {
      log.ContinueAs(frame.value);
    } else if (frame.type == 'H') {
      state.main_wall_ms = frame.heartbeat.wall_ms;
      state.main_lease_ms = frame.heartbeat.lease_ms;
      state.main_frozen = frame.heartbeat.frozen;
      *heartbeat_token = frame.heartbeat.token;
    } else if (frame.record.sequence == 0) {
      ApplyRecord(store, frame.record, now);  // A snapshot's item.
    } else {
      if (!log.AppendFollowed(frame.record)) {
        return std::string_view::npos;  // Promoted meanwhile, or not the next record.
      }
      ApplyRecord(store, frame.record, now);
      state.applied = frame.record.sequence;
    }
  }
}

// One connection to the main: asks for the stream after what was applied, applies it
// until the connection fails or this node should follow another main (or none). An error
// if no connection could be opened or it broke.
asio::awaitable<base::Status> FollowOnce(asio::ip::tcp::endpoint main, Store& store,
                                         ReplicationLog& log, ReplicaState& state,
                                         net::TlsClientContext* tls,
                                         const std::atomic<bool>& stop) {
  using namespace asio::experimental::awaitable_operators;
  const uint64_t generation = state.generation();
  asio::steady_timer timer(co_await asio::this_coro::executor);
  net::ClientStream::Peer peer = net::ClientStream::PeerAt(main);
  const auto deadline = std::chrono::steady_clock::now() + kConnectTimeout;
  base::Result<net::ClientStream> opened =
      co_await net::ClientStream::Open(std::move(peer), tls, deadline);
  if (!opened) {
    co_return opened.error();
  }
  net::ClientStream& stream = *opened;
  stream.tcp().socket().set_option(asio::ip::tcp::no_delay(true));
  // What this node has is what its log says (a backup's mirrors its main's).
  state.applied = log.last_sequence();
  const std::string hello = std::string(kReplicateCommand) + " " + std::to_string(log.log_id()) +
                            " " + std::to_string(state.applied.load()) + "\r\n";
  auto [hello_error, written] =
      co_await asio::async_write(stream, asio::buffer(hello), asio::as_tuple(asio::use_awaitable));
  if (hello_error) {
    co_return base::Status();
  }
  state.connected = true;
  std::string buffer(256 * 1024, '\0');
  size_t end = 0;
  uint64_t acked = state.applied.load();
  uint64_t snapshot_log_id = 0;  // The log of the snapshot being received.
  auto last_ack = std::chrono::steady_clock::now();
  // Reads wake up now and then to see whether this node should still follow this main.
  while (!stop.load() && state.generation() == generation) {
    timer.expires_after(std::chrono::milliseconds(100));
    auto result =
        co_await (stream.async_read_some(asio::buffer(buffer.data() + end, buffer.size() - end),
                                         asio::as_tuple(asio::use_awaitable)) ||
                  timer.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (result.index() == 1) {
      continue;
    }
    auto [read_error, read] = std::get<0>(result);
    if (read_error) {
      state.connected = false;
      // A main that refuses this node's certificate says so here (TLS 1.3 ends the
      // client's handshake before the server checks it).
      co_return base::Unavailable(read_error == asio::error::eof ? "connection closed"
                                                                 : read_error.message());
    }
    end += read;
    uint64_t heartbeat_token = 0;
    const size_t used = ApplyFrames(std::string_view(buffer.data(), end), store, log, state,
                                    &snapshot_log_id, generation, &heartbeat_token);
    if (used == std::string_view::npos) {
      break;
    }
    // Keep the partial frame at the front; grow for a large item.
    buffer.erase(0, used);
    end -= used;
    buffer.resize(std::max(buffer.size(), end * 2 + 64 * 1024));
    // Acknowledge at once when caught up (sync writes wait on it) or after a heartbeat
    // (the main's lease), else now and then.
    const uint64_t applied = state.applied.load();
    const auto now = std::chrono::steady_clock::now();
    if (heartbeat_token != 0 || (applied > acked && (end == 0 || now - last_ack > kAckInterval))) {
      if (heartbeat_token != 0) {
        state.last_heartbeat_ack_ns = now.time_since_epoch().count();
      }
      if (!co_await Acknowledge(stream, applied, heartbeat_token)) {
        break;
      }
      acked = applied;
      last_ack = now;
    }
  }
  state.connected = false;
  co_return base::Status();
}

}  // namespace

void ReplicaState::SetMain(std::optional<asio::ip::tcp::endpoint> main) {
  std::lock_guard lock(mu_);
  if (main_ != main) {
    main_ = main;
    generation_.fetch_add(1);
  }
}

std::optional<asio::ip::tcp::endpoint> ReplicaState::main() const {
  std::lock_guard lock(mu_);
  return main_;
}

int64_t ReplicaState::LagMs() const {
  const uint64_t heartbeat = main_wall_ms.load();
  return heartbeat == 0
             ? -1
             : std::max<int64_t>(0, static_cast<int64_t>(base::UnixMilliseconds() - heartbeat));
}

std::chrono::steady_clock::time_point ReplicaState::MainLeaseEnd() const {
  using Clock = std::chrono::steady_clock;
  if (main_frozen.load() || main_lease_ms.load() == 0) {
    return {};
  }
  // Still connected: the stream may send one more acknowledgement before it notices
  // that this node stopped following, so count from now.
  const Clock::time_point last_ack =
      connected.load() ? Clock::now()
                       : Clock::time_point(Clock::duration(last_heartbeat_ack_ns.load()));
  return last_ack + std::chrono::milliseconds(main_lease_ms.load());
}

asio::awaitable<void> RunReplica(Store& store, ReplicationLog& log, ReplicaState& state,
                                 net::TlsClientContext* tls, const std::atomic<bool>& stop) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  std::string said;  // The failure logged last: each is logged once, not every retry.
  while (!stop.load()) {
    if (std::optional<asio::ip::tcp::endpoint> main = state.main()) {
      const base::Status followed = co_await FollowOnce(*main, store, log, state, tls, stop);
      const std::string failure = followed.ok() ? "" : followed.error().message;
      if (!failure.empty() && failure != said) {
        spdlog::warn("replicating from {}: {}", net::FormatEndpoint(*main), failure);
      }
      said = failure;
    }
    timer.expires_after(kRetryInterval);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace trellis::cache
