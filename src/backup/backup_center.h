// BackupCenter: `trellis backup-center` (docs/backup.md). It follows the master's map and
// streams every group's mutation log from the group's main as an archive consumer
// ("trellis-replicate LOG SEQ archive": it counts as no backup and renews no lease) into
// that group's GroupArchive under --data/<group>: segments of the records, and a dump
// whenever the main sends a snapshot (the first time, or when its log no longer holds
// the archive's position: after a failover, or a long absence, which leaves a gap).
// A stream that breaks is taken up again from the archive's position, from whichever
// node the map names main.
//
// Durability: records are flushed to their segment and fdatasync'd at least once a
// second (and every MiB); the position after a restart is what the files hold, so at
// most the last second's records are asked for again (the main's log still holds them).
//
// It registers with the master as a service (`trellis cluster status` lists it, with a
// summary line) and answers its API (backup_api.h) on --listen: the status of every group and
// restores to a point in time, which it computes from the files (point_in_time.h) and writes
// through the access node at --access, as any client's writes: the groups' backups and
// this archive follow them.
//
// Thread safety: Start and Drain from the daemon's main thread; everything else runs on
// the center's own thread.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "backup/backup_api.h"
#include "backup/group_archive.h"
#include "backup/point_in_time.h"
#include "base/metrics.h"
#include "base/result.h"
#include "cache/replication_wire.h"
#include "daemon/service.h"
#include "http/message.h"
#include "http/server.h"
#include "master/client/cluster_state.h"
#include "master/client/master_client.h"
#include "net/shard_pool.h"

namespace trellis::backup {

struct BackupCenterOptions {
  boost::asio::ip::tcp::endpoint listen;
  std::filesystem::path data;
  master::MasterAccess master;
  std::string access;  // HOST:PORT of the access node restores write through.
  std::chrono::seconds segment_length{300};
  std::chrono::milliseconds dump_every{std::chrono::hours(1)};
  // Seconds older than this need not stay restorable (files are removed after each dump).
  std::chrono::milliseconds retain{std::chrono::hours(24 * 7)};
  // Checks the tokens of API calls (http/auth.h): status needs read, a restore or a
  // dump (every key and value) operate.
  // Null: the API takes no tokens.
  std::shared_ptr<http::Authenticator> authenticator;
};

class BackupCenter : public daemon::Service {
 public:
  // Metrics: trellis_backup_lag_seconds{group}, trellis_backup_archived_bytes_total{group},
  // trellis_backup_streaming{group}.
  static base::Result<std::unique_ptr<BackupCenter>> Start(const BackupCenterOptions& options,
                                                           base::Registry& metrics);
  ~BackupCenter() override;

  std::vector<daemon::Listener> listeners() const override;
  // Registers with the master from then on (as "backup-center", renewed every few
  // seconds with a one-line summary: groups streaming, lag, last dump, gaps).
  void AdminListening(const std::string& address) override;
  void Drain(std::chrono::milliseconds timeout) override;

 private:
  struct Group;
  // Each group's archive now, as far as it holds (backup_center.cc).
  std::vector<GroupPoint> LatestPoints();

  BackupCenter(const BackupCenterOptions& options, base::Registry& metrics);
  std::shared_ptr<const http::Router> Routes();
  boost::asio::awaitable<void> FollowMaster();
  // Streams one group's log into its archive until the center stops.
  boost::asio::awaitable<void> StreamGroup(std::shared_ptr<Group> group);
  // One connection's stream; the error if writing the archive failed.
  boost::asio::awaitable<base::Status> StreamOnce(Group& group,
                                                  boost::asio::ip::tcp::endpoint main);
  // Every dump_every, a dump of the group beside its stream (a connection of its own):
  // a chain that a restore can start from, so that it replays less, and so that a
  // corrupt segment costs only the seconds between dumps.
  boost::asio::awaitable<void> DumpGroup(std::shared_ptr<Group> group);
  boost::asio::awaitable<void> DumpOnce(Group& group, boost::asio::ip::tcp::endpoint main);
  // Removes the group's files that no second within --retain needs.
  void Retain(Group& group);
  // Connects to `main` as an archive consumer from `log_id`/`after` and hands each frame
  // to `on_frame` until it returns false, the connection fails or falls silent, or
  // `after_read` (called after each read's frames) returns false.
  boost::asio::awaitable<void> ReadArchiveStream(
      boost::asio::ip::tcp::endpoint main, uint64_t log_id, uint64_t after,
      const std::function<bool(const cache::ReplicationFrame&)>& on_frame,
      const std::function<bool()>& after_read);
  void CountBytes(Group& group);
  // The one line `trellis cluster status` shows: from the gauges, no file is read.
  std::string Summary() const;
  boost::asio::awaitable<http::Response> GetStatus(const http::Request& request);
  // Plans a restore (a dry run answers with the counts) and writes it: in the background,
  // or before answering when the request waits. One at a time; recorded in
  // PendingRestorePath() while it writes.
  boost::asio::awaitable<http::Response> PostRestore(const http::Request& request);
  boost::asio::awaitable<http::Response> GetRestore(const http::Request& request);
  std::filesystem::path PendingRestorePath() const;
  // The per-group part of the status; refreshes the group's dump and gap metrics.
  GroupBackupStatus Describe(Group& group);
  // The cluster's items now, as one file (cluster_dump.h).
  boost::asio::awaitable<http::Response> GetDump(const http::Request& request);
  // Waits until every group's archive holds every record its main logged before `unix_ms`
  // and every record of `second` and before.
  boost::asio::awaitable<base::Status> CatchUp(uint64_t unix_ms, uint32_t second);
  // What restoring to `request.to` (of `request.group`'s slots) writes.
  boost::asio::awaitable<base::Result<std::shared_ptr<const RestorePlan>>> PlanRestore(
      const RestoreRequest& request);
  // Writes `plan` into restore_, then marks it done (and forgets the pending record) or
  // failed.
  boost::asio::awaitable<void> WriteRestore(std::shared_ptr<const RestorePlan> plan);

  const BackupCenterOptions options_;
  base::Registry& metrics_;
  net::ShardPool pool_{1};
  std::unique_ptr<http::Server> server_;
  bool stopping_ = false;
  std::map<std::string, std::shared_ptr<Group>> groups_;  // The center's thread only.
  master::ClusterState map_;  // The master's latest map (which group holds which slot).
  bool restoring_ = false;
  std::optional<RestoreReply> restore_;  // The restore writing, or the last one.
  std::chrono::steady_clock::time_point restore_started_{};
};

}  // namespace trellis::backup
