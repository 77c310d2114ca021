#include "backup/backup_center.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include "backup/cluster_dump.h"
#include "backup/point_in_time.h"
#include "backup/restore_writer.h"
#include "base/clock.h"
#include "base/cluster_slot.h"
#include "base/file.h"
#include "cache/replication_wire.h"
#include "master/client/master_client.h"
#include "net/address.h"
#include "net/client_stream.h"

namespace trellis::backup {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using boost::beast::http::verb;

namespace {

constexpr auto kRetryInterval = std::chrono::milliseconds(200);
constexpr auto kFlushInterval = std::chrono::seconds(1);
constexpr auto kConnectTimeout = std::chrono::seconds(1);
// A stream with no byte for this long (the main sends a heartbeat every 100 ms) is dead.
constexpr auto kSilenceTimeout = std::chrono::seconds(3);
// How long a restore waits for the archive to hold every record up to its start.
constexpr auto kCatchUpTimeout = std::chrono::seconds(10);

std::optional<asio::ip::tcp::endpoint> Resolve(const std::string& address) {
  auto parsed = net::ParseHostPort(address);
  if (!parsed) {
    return std::nullopt;
  }
  auto endpoint = net::Resolve(*parsed);
  return endpoint ? std::optional(*endpoint) : std::nullopt;
}

// Waits for `future` without holding up the thread's other work.
template <typename T>
asio::awaitable<void> WaitFor(const std::future<T>& future) {
  asio::steady_timer poll(co_await asio::this_coro::executor);
  while (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    poll.expires_after(std::chrono::milliseconds(20));
    co_await poll.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace

struct BackupCenter::Group {
  Group(std::string name, std::unique_ptr<GroupArchive> archive, base::Registry& metrics)
      : name(name),
        archive(std::move(archive)),
        lag_ms(metrics.GetGauge("trellis_backup_lag_milliseconds",
                                "How far the archive is behind the group's main (by the main's "
                                "heartbeats; -1: none yet).",
                                {{"group", name}})),
        archived_bytes(metrics.GetCounter("trellis_backup_archived_bytes_total",
                                          "Bytes written to the group's archive files.",
                                          {{"group", name}})),
        streaming_gauge(metrics.GetGauge("trellis_backup_streaming",
                                         "1 while the group's log streams into the archive.",
                                         {{"group", name}})),
        failing_gauge(metrics.GetGauge(
            "trellis_backup_write_failing",
            "1 while archiving the group stops on a failed write (a full disk); it resumes "
            "when a write succeeds again.",
            {{"group", name}})),
        last_dump_gauge(
            metrics.GetGauge("trellis_backup_last_dump_timestamp_seconds",
                             "When the group's newest complete dump ended (unix seconds; 0: none).",
                             {{"group", name}})),
        gaps_gauge(metrics.GetGauge("trellis_backup_gaps",
                                    "Gaps in the group's restorable seconds (between ranges).",
                                    {{"group", name}})) {
    lag_ms.Set(-1);
  }

  const std::string name;
  std::unique_ptr<GroupArchive> archive;
  std::string main;  // HOST:PORT, as the map names it ("" while none).
  bool streaming = false;
  bool in_dump = false;
  uint64_t main_wall_ms = 0;  // The main's clock at its last heartbeat.
  int64_t lag = -1;           // Milliseconds.
  // Every record the main logged before its clock read this (Unix ms) is archived and
  // synced; so is every record of a second up to complete_until (0: not known yet).
  uint64_t complete_ms = 0;
  uint32_t complete_until = 0;
  bool flush_soon = false;  // A restore waits: sync at the next heartbeat.
  std::string error;
  base::Gauge& lag_ms;
  base::Counter& archived_bytes;
  base::Gauge& streaming_gauge;
  base::Gauge& failing_gauge;
  base::Gauge& last_dump_gauge;
  base::Gauge& gaps_gauge;
  uint64_t counted_bytes = 0;
};

BackupCenter::BackupCenter(const BackupCenterOptions& options, base::Registry& metrics)
    : options_(options), metrics_(metrics) {}

BackupCenter::~BackupCenter() { pool_.Stop(); }

base::Result<std::unique_ptr<BackupCenter>> BackupCenter::Start(const BackupCenterOptions& options,
                                                                base::Registry& metrics) {
  std::error_code error;
  std::filesystem::create_directories(options.data, error);
  if (error) {
    return base::InvalidArgument("--data " + options.data.string() + ": " + error.message());
  }
  std::unique_ptr<BackupCenter> center(new BackupCenter(options, metrics));
  http::ServerOptions server_options;
  server_options.name = "backup-center";
  server_options.listen = options.listen;
  auto server = http::Server::Start(center->pool_, server_options, center->Routes(), metrics);
  if (!server) {
    return base::WithContext("--listen", server.error());
  }
  center->server_ = std::move(server).value();
  if (auto pending = base::ReadFile(center->PendingRestorePath())) {
    // The last run stopped while a restore was writing.
    if (auto request = ParseRestoreRequest(nlohmann::json::parse(*pending, nullptr, false))) {
      RestoreReply& interrupted = center->restore_.emplace();
      interrupted.to = request->to;
      interrupted.group = request->group;
      interrupted.rate = request->rate;
      interrupted.state = "interrupted";
      spdlog::warn(
          "a restore to {} was interrupted: `trellis backup restore --resume` runs it "
          "again",
          request->to);
    }
  }
  asio::co_spawn(center->pool_.context(0), center->FollowMaster(), asio::detached);
  center->pool_.Start();
  return center;
}

std::vector<daemon::Listener> BackupCenter::listeners() const {
  return {{"backup-center", "HTTP API", server_->local_endpoint()}};
}

void BackupCenter::AdminListening(const std::string& address) {
  asio::co_spawn(
      pool_.context(0),
      [this, address]() -> asio::awaitable<void> {
        auto client =
            master::MasterClient::ForUrl(co_await asio::this_coro::executor, options_.master);
        if (!client) {
          co_return;  // FollowMaster says why.
        }
        const std::string url = "http://" + net::FormatEndpoint(server_->local_endpoint());
        co_await master::KeepRegistered(
            *client,
            [this, url, address] {
              return master::ServiceRegistration{"backup-center", "backup-center", url,
                                                 "http://" + address + "/metrics", Summary()};
            },
            master::kServiceRenewal);
      },
      asio::detached);
}

std::string BackupCenter::Summary() const {
  size_t streaming = 0;
  int64_t lag_ms = -1;
  int64_t last_dump = -1;  // The oldest group's newest dump.
  int64_t gaps = 0;
  for (const auto& [name, group] : groups_) {
    streaming += group->streaming ? 1 : 0;
    lag_ms = std::max(lag_ms, group->lag);
    const int64_t dumped = group->last_dump_gauge.Value();
    last_dump = last_dump < 0 ? dumped : std::min(last_dump, dumped);
    gaps += group->gaps_gauge.Value();
  }
  std::string summary = fmt::format("{}/{} groups streaming", streaming, groups_.size());
  if (lag_ms >= 0) {
    summary += fmt::format(", lag {:.1f} s", static_cast<double>(lag_ms) / 1000.0);
  }
  if (last_dump > 0) {
    summary += fmt::format(", last dump {} s ago",
                           std::max<int64_t>(0, base::CoarseUnixSeconds() - last_dump));
  }
  summary += fmt::format(", {} gaps", gaps);
  if (restore_ && restore_->state != "done") {
    summary += fmt::format(", restore {}", restore_->state);
  }
  return summary;
}

void BackupCenter::Drain(std::chrono::milliseconds timeout) {
  server_->Drain(timeout);
  // What the streams received goes to disk before the thread stops (else the next start
  // asks the mains for it again), within the timeout.
  auto flushed = std::make_shared<std::promise<void>>();
  asio::post(pool_.context(0), [this, flushed] {
    stopping_ = true;
    for (auto& [name, group] : groups_) {
      (void)group->archive->Flush();
    }
    flushed->set_value();
  });
  flushed->get_future().wait_for(timeout);
  pool_.Stop();
}

std::shared_ptr<const http::Router> BackupCenter::Routes() {
  auto router = std::make_shared<http::Router>();
  router->Add(verb::get, "/v1/backup", http::Scope::kRead,
              [this](const http::Request& request) { return GetStatus(request); });
  router->Add(verb::post, "/v1/restore", http::Scope::kOperate,
              [this](const http::Request& request) { return PostRestore(request); });
  router->Add(verb::get, "/v1/restore", http::Scope::kRead,
              [this](const http::Request& request) { return GetRestore(request); });
  router->Add(verb::get, "/v1/dump", http::Scope::kOperate,
              [this](const http::Request& request) { return GetDump(request); });
  if (options_.authenticator) {
    router->RequireTokens(options_.authenticator);
  }
  return router;
}

asio::awaitable<void> BackupCenter::FollowMaster() {
  auto client = master::MasterClient::ForUrl(co_await asio::this_coro::executor, options_.master);
  if (!client) {
    spdlog::error("--master: {}", client.error().message);
    co_return;
  }
  co_await master::FollowCluster(
      *client, "",
      [this](const master::ClusterState& map, bool, Clock::time_point) -> asio::awaitable<void> {
        map_ = map;
        for (const master::GroupState& info : map.groups) {
          auto it = groups_.find(info.name);
          if (it == groups_.end()) {
            auto archive =
                GroupArchive::Open(options_.data / info.name, info.name, {options_.segment_length});
            if (!archive) {
              spdlog::error("the archive of group {}: {}", info.name, archive.error().message);
              continue;
            }
            auto group = std::make_shared<Group>(info.name, std::move(archive).value(), metrics_);
            it = groups_.emplace(info.name, group).first;
            const auto executor = co_await asio::this_coro::executor;
            asio::co_spawn(executor, StreamGroup(group), asio::detached);
            asio::co_spawn(executor, DumpGroup(group), asio::detached);
            Describe(*group);  // The metrics of what its files hold.
          }
          it->second->main = info.main.value_or("");
        }
        co_return;
      });
}

asio::awaitable<void> BackupCenter::DumpGroup(std::shared_ptr<Group> group) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(options_.dump_every);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (stopping_) {
      co_return;
    }
    if (auto main = Resolve(group->main); main && group->streaming) {
      co_await DumpOnce(*group, *main);
    }
    Retain(*group);
    Describe(*group);  // The metrics of its dumps and gaps.
  }
}

asio::awaitable<void> BackupCenter::StreamGroup(std::shared_ptr<Group> group) {
  asio::steady_timer pause(co_await asio::this_coro::executor);
  bool failed = false;
  while (!stopping_) {
    if (failed) {
      // A write failed (a full disk): what the files hold is what was archived; the
      // stream asks for the rest again (the main's log still has it, or a snapshot
      // follows and the gap is recorded).
      CountBytes(*group);
      auto reopened =
          GroupArchive::Open(options_.data / group->name, group->name, {options_.segment_length});
      if (reopened) {
        group->archive = std::move(reopened).value();
        group->counted_bytes = 0;
        failed = false;
      } else {
        group->error = reopened.error().message;
      }
    }
    base::Status archived;
    if (auto main = Resolve(group->main); main && !failed) {
      archived = co_await StreamOnce(*group, *main);
    }
    group->streaming = false;
    group->streaming_gauge.Set(0);
    if (archived && !failed) {
      archived = group->archive->Flush();
    }
    if (!archived) {
      spdlog::error("archiving group {}: {}", group->name, archived.error().message);
      group->error = archived.error().message;
      group->failing_gauge.Set(1);
      failed = true;
    }
    pause.expires_after(kRetryInterval);
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<base::Status> BackupCenter::StreamOnce(Group& group, asio::ip::tcp::endpoint main) {
  const std::string streamed_from = group.main;
  const auto position = group.archive->position();
  group.in_dump = false;
  auto last_flush = Clock::now();
  base::Status status;
  bool heartbeat = false;
  auto on_frame = [&](const cache::ReplicationFrame& frame) {
    switch (frame.type) {
      case 'F':
        group.in_dump = true;
        status = group.archive->BeginDump(frame.value);
        break;
      case 'E':
        group.in_dump = false;
        status = group.archive->FinishDump(frame.value);
        break;
      case 'C':
        status = group.archive->ContinueAs(frame.value);
        break;
      case 'H':
        group.main_wall_ms = frame.heartbeat.wall_ms;
        heartbeat = !group.in_dump;
        break;
      default:
        status = group.in_dump ? group.archive->AddDumpItem(frame.record)
                               : group.archive->Append(frame.record);
    }
    return status.ok() && !stopping_ && group.main == streamed_from;
  };
  auto after_read = [&] {
    group.streaming = true;
    group.streaming_gauge.Set(1);
    const auto now = Clock::now();
    if (status && heartbeat &&
        (now - last_flush >= kFlushInterval || group.flush_soon || !group.archive->has_pending())) {
      // Every record before the heartbeat is in: once synced, its second minus one is
      // complete (records of its own second may follow it). With nothing to write, at
      // every heartbeat.
      status = group.archive->Flush();
      if (status && group.failing_gauge.Value() != 0) {
        spdlog::info("archiving group {}: writing again", group.name);
        group.error.clear();
        group.failing_gauge.Set(0);
      }
      last_flush = now;
      group.flush_soon = false;
      group.complete_ms = group.main_wall_ms;
      group.complete_until = static_cast<uint32_t>(group.main_wall_ms / 1000) - 1;
      group.archive->MarkComplete(group.complete_until);
    }
    if (heartbeat) {
      group.lag = std::max<int64_t>(0, static_cast<int64_t>(base::UnixMilliseconds()) -
                                           static_cast<int64_t>(group.main_wall_ms));
      group.lag_ms.Set(group.lag);
      heartbeat = false;
    }
    CountBytes(group);
    return status.ok();
  };
  co_await ReadArchiveStream(main, position ? position->log_id : 0,
                             position ? position->sequence : 0, on_frame, after_read);
  co_return status;
}

asio::awaitable<void> BackupCenter::DumpOnce(Group& group, asio::ip::tcp::endpoint main) {
  std::unique_ptr<DumpWriter> dump;
  base::Status status;
  bool done = false;
  auto on_frame = [&](const cache::ReplicationFrame& frame) {
    if (frame.type == 'F') {
      auto created = group.archive->NewDump(frame.value);
      status = created ? base::Status() : base::Status(created.error());
      dump = created ? std::move(created).value() : nullptr;
    } else if (frame.type == 'R' && dump) {
      status = dump->Add(frame.record);
    } else if (frame.type == 'E' && dump) {
      status = dump->Finish(frame.value);
      group.archive->CountBytes(dump->bytes_written());
      done = true;
    }
    return status.ok() && !done && !stopping_;
  };
  co_await ReadArchiveStream(main, 0, 0, on_frame, [] { return true; });
  CountBytes(group);
  if (!status) {
    spdlog::error("dumping group {}: {}", group.name, status.error().message);
    group.error = status.error().message;
  } else if (done) {
    spdlog::info("dumped group {}", group.name);
  }
}

void BackupCenter::Retain(Group& group) {
  const auto keep_from =
      base::CoarseUnixSeconds() -
      static_cast<uint32_t>(
          std::chrono::duration_cast<std::chrono::seconds>(options_.retain).count());
  auto unneeded = FilesNotNeededFrom(options_.data / group.name, keep_from);
  if (!unneeded) {
    spdlog::error("retention of group {}: {}", group.name, unneeded.error().message);
    return;
  }
  for (const std::filesystem::path& file : *unneeded) {
    std::error_code error;
    std::filesystem::remove(file, error);
    spdlog::info("retention: removed {}{}", file.string(), error ? ": " + error.message() : "");
  }
}

void BackupCenter::CountBytes(Group& group) {
  const uint64_t bytes = group.archive->bytes_written();
  group.archived_bytes.Increment(bytes - group.counted_bytes);
  group.counted_bytes = bytes;
}

asio::awaitable<void> BackupCenter::ReadArchiveStream(
    asio::ip::tcp::endpoint main, uint64_t log_id, uint64_t after,
    const std::function<bool(const cache::ReplicationFrame&)>& on_frame,
    const std::function<bool()>& after_read) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  net::ClientStream::Peer peer = net::ClientStream::PeerAt(main);
  const auto deadline = std::chrono::steady_clock::now() + kConnectTimeout;
  base::Result<net::ClientStream> opened =
      co_await net::ClientStream::Open(std::move(peer), options_.master.tls.get(), deadline);
  if (!opened) {
    co_return;
  }
  net::ClientStream& stream = *opened;
  const std::string hello = std::string(cache::kReplicateCommand) + " " + std::to_string(log_id) +
                            " " + std::to_string(after) + " archive\r\n";
  auto [hello_error, written] =
      co_await asio::async_write(stream, asio::buffer(hello), asio::as_tuple(asio::use_awaitable));
  if (hello_error) {
    co_return;
  }
  std::string buffer(256 * 1024, '\0');
  size_t end = 0;
  for (bool going = true; going;) {
    timer.expires_after(kSilenceTimeout);
    auto result =
        co_await (stream.async_read_some(asio::buffer(buffer.data() + end, buffer.size() - end),
                                         asio::as_tuple(asio::use_awaitable)) ||
                  timer.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (result.index() == 1 || std::get<0>(std::get<0>(result))) {
      break;  // Silent (the main is gone) or closed.
    }
    end += std::get<1>(std::get<0>(result));
    std::string_view input(buffer.data(), end);
    size_t used = 0;
    while (going) {
      cache::ReplicationFrame frame;
      size_t consumed = 0;
      const cache::FrameStatus parsed =
          cache::ParseReplicationFrame(input.substr(used), &frame, &consumed);
      if (parsed == cache::FrameStatus::kNeedMore) {
        break;
      }
      if (parsed == cache::FrameStatus::kBad) {
        spdlog::error("a malformed replication frame from {}", main.address().to_string());
        going = false;
        break;
      }
      used += consumed;
      going = on_frame(frame);
    }
    buffer.erase(0, used);
    end -= used;
    buffer.resize(std::max(buffer.size(), end * 2 + 64 * 1024));
    going = after_read() && going;
  }
}

GroupBackupStatus BackupCenter::Describe(Group& group) {
  GroupBackupStatus out;
  out.group = group.name;
  out.main = group.main;
  out.streaming = group.streaming;
  out.lag_seconds = group.lag < 0 ? -1 : static_cast<double>(group.lag) / 1000.0;
  out.bytes_archived = group.archived_bytes.Value();
  out.error = group.error;
  const auto dir = options_.data / group.name;
  if (auto ranges = RestorableRanges(dir, group.complete_until)) {
    for (const RestorableRange& range : *ranges) {
      out.restorable.push_back({range.from, range.to});
    }
    group.gaps_gauge.Set(ranges->empty() ? 0 : static_cast<int64_t>(ranges->size()) - 1);
  } else {
    out.error = ranges.error().message;
  }
  if (auto files = GroupArchive::List(dir)) {
    for (const ArchiveFileInfo& file : *files) {
      const bool dump = file.header.kind == FileKind::kDump;
      out.files.push_back({file.path.filename().string(), dump ? "dump" : "segment", file.bytes,
                           file.end.has_value()});
      if (dump && file.end) {
        out.last_dump = std::max(out.last_dump, file.end->last_time);
      }
    }
    group.last_dump_gauge.Set(out.last_dump);
  }
  return out;
}

asio::awaitable<http::Response> BackupCenter::GetStatus(const http::Request&) {
  BackupStatus status;
  for (const auto& [name, group] : groups_) {
    status.groups.push_back(Describe(*group));
  }
  status.restore = restore_;
  co_return http::Response::Json(ToJson(status));
}

asio::awaitable<http::Response> BackupCenter::PostRestore(const http::Request& request) {
  auto body = request.JsonBody();
  if (!body) {
    co_return http::Response::Error(body.error());
  }
  auto parsed = ParseRestoreRequest(*body);
  if (!parsed) {
    co_return http::Response::Error(parsed.error());
  }
  if (restoring_) {
    co_return http::Response::Error(base::Conflict("a restore is running"));
  }
  RestoreRequest restore = *parsed;
  if (restore.resume) {
    auto pending = base::ReadFile(PendingRestorePath());
    auto recorded = pending ? ParseRestoreRequest(nlohmann::json::parse(*pending, nullptr, false))
                            : base::Result<RestoreRequest>(pending.error());
    if (!recorded) {
      co_return http::Response::Error(base::InvalidArgument("no interrupted restore to resume (" +
                                                            recorded.error().message + ")"));
    }
    restore = {recorded->to, false, recorded->group, recorded->rate, parsed->wait, true};
  }
  restoring_ = true;
  auto plan = co_await PlanRestore(restore);
  if (!plan) {
    restoring_ = false;
    co_return http::Response::Error(plan.error());
  }
  RestoreReply reply{restore.to,
                     restore.dry_run,
                     restore.group,
                     restore.rate,
                     restore.dry_run ? "done" : "writing",
                     (*plan)->sets.size(),
                     (*plan)->deletes.size(),
                     (*plan)->unchanged,
                     0,
                     "",
                     std::chrono::duration<double>(Clock::now() - restore_started_).count()};
  if (restore.dry_run) {
    restoring_ = false;
    co_return http::Response::Json(ToJson(reply));
  }
  // Durable before the first write: a center that stops while writing says so when it
  // starts again, and the restore can be resumed.
  RestoreRequest record = restore;
  record.wait = record.resume = false;
  if (base::Status saved = base::ReplaceFile(PendingRestorePath(), ToJson(record).dump()); !saved) {
    restoring_ = false;
    co_return http::Response::Error(saved.error());
  }
  restore_ = reply;
  if (!restore.wait) {
    asio::co_spawn(co_await asio::this_coro::executor, WriteRestore(std::move(plan).value()),
                   asio::detached);
    co_return http::Response::Json(ToJson(reply), 202);
  }
  co_await WriteRestore(std::move(plan).value());
  if (restore_->state != "done") {
    co_return http::Response::Error(base::Unavailable(restore_->error));
  }
  co_return http::Response::Json(ToJson(*restore_));
}

asio::awaitable<http::Response> BackupCenter::GetRestore(const http::Request&) {
  if (!restore_) {
    co_return http::Response::Error(base::NotFound("no restore has run"));
  }
  co_return http::Response::Json(ToJson(*restore_));
}

std::filesystem::path BackupCenter::PendingRestorePath() const {
  return options_.data / "restore.json";
}

asio::awaitable<void> BackupCenter::WriteRestore(std::shared_ptr<const RestorePlan> plan) {
  const base::Status written =
      co_await WriteThroughAccess(options_.access, *plan, {restore_->rate, &restore_->written});
  restore_->seconds = std::chrono::duration<double>(Clock::now() - restore_started_).count();
  if (written) {
    restore_->state = "done";
    if (base::Status removed = base::RemoveFile(PendingRestorePath()); !removed) {
      spdlog::error("restore: {}", removed.error().message);
    }
  } else {
    restore_->state = "failed";
    restore_->error = written.error().message;
  }
  spdlog::info("restore to {}{}: {} restored, {} deleted, {} unchanged in {:.1f} s{}", restore_->to,
               restore_->group.empty() ? "" : " of group " + restore_->group, restore_->restored,
               restore_->deleted, restore_->unchanged, restore_->seconds,
               written ? "" : ": " + written.error().message);
  restoring_ = false;
}

std::vector<GroupPoint> BackupCenter::LatestPoints() {
  std::vector<GroupPoint> points;
  for (const auto& [name, group] : groups_) {
    const auto latest_second = static_cast<uint32_t>(group->complete_ms / 1000);
    points.push_back({options_.data / name, latest_second, latest_second});
  }
  return points;
}

asio::awaitable<http::Response> BackupCenter::GetDump(const http::Request&) {
  if (base::Status caught_up = co_await CatchUp(base::UnixMilliseconds(), 0); !caught_up) {
    co_return http::Response::Error(caught_up.error());
  }
  for (const auto& [name, group] : groups_) {
    if (base::Status flushed = group->archive->Flush(); !flushed) {
      co_return http::Response::Error(flushed.error());
    }
  }
  const uint32_t now = base::CoarseUnixSeconds();
  auto dump =
      std::async(std::launch::async, [points = LatestPoints(), now]() -> base::Result<std::string> {
        TRELLIS_TRY(ClusterState state, ClusterStateAt(points));
        return EncodeClusterDump(state, now);
      });
  co_await WaitFor(dump);
  base::Result<std::string> bytes = dump.get();
  if (!bytes) {
    co_return http::Response::Error(bytes.error());
  }
  co_return http::Response::Text(std::move(bytes).value(), "application/octet-stream");
}

asio::awaitable<base::Status> BackupCenter::CatchUp(uint64_t unix_ms, uint32_t second) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const auto deadline = Clock::now() + kCatchUpTimeout;
  for (;;) {
    std::string behind;
    for (const auto& [name, group] : groups_) {
      if (group->complete_ms < unix_ms || group->complete_until < second) {
        group->flush_soon = true;
        behind += " " + name;
      }
    }
    if (behind.empty()) {
      co_return base::Status();
    }
    if (Clock::now() >= deadline) {
      co_return base::Unavailable("the archive of group(s)" + behind +
                                  " is not complete up to now (is the stream down?)");
    }
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<base::Result<std::shared_ptr<const RestorePlan>>> BackupCenter::PlanRestore(
    const RestoreRequest& request) {
  restore_started_ = Clock::now();
  const uint32_t now = base::CoarseUnixSeconds();
  if (request.to > now) {
    co_return base::InvalidArgument("the restore time " + std::to_string(request.to) +
                                    " is in the future (now " + std::to_string(now) + ")");
  }
  std::vector<bool> slots;  // The slots of request.group, when given.
  if (!request.group.empty()) {
    slots.assign(base::kClusterSlots, false);
    for (const master::SlotRange& range : map_.slot_ranges) {
      if (range.group == request.group) {
        std::fill(slots.begin() + range.first, slots.begin() + range.last + 1, true);
      }
    }
    if (!groups_.contains(request.group)) {
      co_return base::InvalidArgument("no group " + request.group + " in the archive");
    }
  }
  // Writes acknowledged before the request are in the archive first, and so is every
  // write of the second restored to.
  if (base::Status caught_up = co_await CatchUp(base::UnixMilliseconds(), request.to); !caught_up) {
    co_return caught_up.error();
  }
  // Each group's archive at T, and now (as far as it holds), read on two threads of
  // their own (the archive's streams go on meanwhile on this one).
  std::vector<GroupPoint> then_points;
  for (const auto& [name, group] : groups_) {
    if (base::Status flushed = group->archive->Flush(); !flushed) {
      co_return flushed.error();
    }
    then_points.push_back({options_.data / name, request.to, group->complete_until});
  }
  auto state_at = [slots](std::vector<GroupPoint> points) -> base::Result<ClusterState> {
    TRELLIS_TRY(ClusterState state, ClusterStateAt(points));
    if (!slots.empty()) {
      std::erase_if(
          state, [&slots](const auto& entry) { return !slots[base::ClusterSlotOf(entry.first)]; });
    }
    return state;
  };
  auto then_future = std::async(std::launch::async, state_at, std::move(then_points));
  auto latest_future = std::async(std::launch::async, state_at, LatestPoints());
  co_await WaitFor(then_future);
  co_await WaitFor(latest_future);
  base::Result<ClusterState> then = then_future.get();
  base::Result<ClusterState> latest = latest_future.get();
  if (!then) {
    co_return then.error();
  }
  if (!latest) {
    co_return latest.error();
  }
  auto plan = std::make_shared<const RestorePlan>(
      backup::PlanRestore(std::move(then).value(), *latest, request.to, now));
  spdlog::info("restore to {}: planned in {:.1f} s", request.to,
               std::chrono::duration<double>(Clock::now() - restore_started_).count());
  co_return plan;
}

}  // namespace trellis::backup
