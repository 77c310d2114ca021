// The backup center (docs/backup.md) with real processes: a master, two groups of a main
// and a backup, an access node, and `trellis backup-center` archiving both groups. A
// client writes and deletes versioned values in bursts, each burst followed by a quiet
// second T; afterwards the cluster is restored to several of those seconds, in no
// particular order, and every key must read as it did at T. The center is SIGKILLed and
// restarted during the workload and takes periodic dumps meanwhile, and a main (sync
// mode) is SIGKILLed in the middle of a burst: its backup takes over and continues its
// log, so the archive has no gap.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "backup/backup_api.h"
#include "backup/group_archive.h"
#include "base/cluster_slot.h"
#include "master/client/cluster_state.h"
#include "testing/daemon_process.h"
#include "testing/loopback_client.h"
#include "testing/temp_dir.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;
using testing::DaemonProcess;
using testing::Eventually;
using testing::LoopbackClient;

using Model = std::map<std::string, std::optional<std::string>>;

constexpr int kKeys = 200;

uint32_t UnixSeconds() {
  return static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// A restore to `to` of `group`'s keys ("": all) at `rate` keys/s (0: no limit), answered
// once written unless `wait` is false.
std::string RestoreBody(uint32_t to, std::string group = "", uint64_t rate = 0, bool wait = true) {
  backup::RestoreRequest request;
  request.to = to;
  request.group = std::move(group);
  request.rate = rate;
  request.wait = wait;
  return backup::ToJson(request).dump();
}

// Sleeps until the wall clock is past the start of `second` (by a few of the main's
// heartbeats: the archive knows the second before was quiet before the next write).
void SleepUntilSecond(uint32_t second) {
  std::this_thread::sleep_until(
      std::chrono::system_clock::time_point(std::chrono::seconds(second)) + 300ms);
}

class BackupCenterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    master_ = std::make_unique<DaemonProcess>(
        std::vector<std::string>{"master", "--listen", "127.0.0.1:0", "--data",
                                 (data_.path() / "master").string(), "--probe-interval", "0.2"});
    master_port_ = master_->WaitForListening("master");
    master_url_ = "http://127.0.0.1:" + std::to_string(master_port_);
    for (const char* group : {"g1", "g2"}) {
      ASSERT_EQ(testing::HttpRequest(master_port_, "POST", "/v1/groups",
                                     std::string(R"({"name": ")") + group + "\"}")
                    .status,
                201);
      ASSERT_EQ(
          testing::HttpRequest(master_port_, "POST", "/v1/groups/" + std::string(group) + "/mode",
                               R"({"mode": "sync"})")
              .status,
          200);
    }
    for (const char* group : {"g1", "g2"}) {
      for (int i = 0; i < 2; ++i) {
        nodes_.push_back(std::make_unique<DaemonProcess>(
            std::vector<std::string>{"cache", "--listen", "127.0.0.1:0", "--threads", "1",
                                     "--memory", "64", "--master", master_url_, "--group", group}));
        node_ports_.push_back(nodes_.back()->WaitForListening("cache"));
      }
    }
    access_ = std::make_unique<DaemonProcess>(std::vector<std::string>{
        "access", "--listen", "127.0.0.1:0", "--threads", "1", "--master", master_url_});
    access_port_ = access_->WaitForListening("access");
    StartCenter();
  }

  void StartCenter() {
    center_ = std::make_unique<DaemonProcess>(std::vector<std::string>{
        "backup-center", "--listen", "127.0.0.1:0", "--data", (data_.path() / "backup").string(),
        "--master", master_url_, "--access", "127.0.0.1:" + std::to_string(access_port_),
        "--segment", "2s", "--dump-every", "3s"});
    center_port_ = center_->WaitForListening("backup-center");
    ASSERT_TRUE(Eventually(
        [&] {
          const backup::BackupStatus status = Status();
          return status.groups.size() == 2 && status.groups[0].streaming &&
                 status.groups[1].streaming && !status.groups[0].restorable.empty() &&
                 !status.groups[1].restorable.empty();
        },
        10s))
        << testing::HttpGet(center_port_, "/v1/backup").body;
  }

  backup::BackupStatus Status() {
    auto status = backup::ParseBackupStatus(
        nlohmann::json::parse(testing::HttpGet(center_port_, "/v1/backup").body, nullptr, false));
    return status ? *status : backup::BackupStatus{};
  }

  // Sets or deletes about half the keys (versioned values), as the model records; calls
  // `midway` halfway through. A write refused (its group is failing over) is sent again
  // until it is taken: the model holds what the cluster acknowledged.
  void Burst(int burst, LoopbackClient& client, const std::function<void()>& midway) {
    std::mt19937 random(static_cast<uint32_t>(burst));
    for (int i = 0; i < kKeys; ++i) {
      if (i == kKeys / 2) {
        midway();
      }
      const std::string key = "key" + std::to_string(i);
      const uint32_t roll = random() % 10;
      if (roll < 4) {
        const std::string value = "v" + std::to_string(burst) + "-" + std::to_string(i);
        // Some with a time to live, a different one each burst.
        const uint32_t ttl = i % 4 == 0 ? 1000 + 100 * static_cast<uint32_t>(burst) : 0;
        uint32_t sent = 0;
        ASSERT_TRUE(Eventually(
            [&] {
              sent = UnixSeconds();
              client.Send("set " + key + " 0 " + std::to_string(ttl) + " " +
                          std::to_string(value.size()) + "\r\n" + value + "\r\n");
              return client.ReadUntil("\r\n") == "STORED\r\n";
            },
            20s))
            << key;
        model_[key] = value;
        expiries_[key] = ttl == 0 ? 0 : sent + ttl;
      } else if (roll < 5) {
        ASSERT_TRUE(Eventually(
            [&] {
              client.Send("delete " + key + "\r\n");
              const std::string reply = client.ReadUntil("\r\n");
              return reply == "DELETED\r\n" || reply == "NOT_FOUND\r\n";
            },
            20s))
            << key;
        model_[key] = std::nullopt;
      }
    }
  }

  // The index in nodes_ of `group`'s main, as the master's map names it.
  size_t MainOf(const std::string& group) {
    const nlohmann::json cluster = nlohmann::json::parse(
        testing::HttpRequest(master_port_, "GET", "/v1/cluster", "").body, nullptr, false);
    for (const nlohmann::json& entry : cluster.value("groups", nlohmann::json::array())) {
      if (entry.value("name", "") == group && entry["main"].is_string()) {
        const std::string main = entry["main"].get<std::string>();
        for (size_t i = 0; i < node_ports_.size(); ++i) {
          if (main == "127.0.0.1:" + std::to_string(node_ports_[i])) {
            return i;
          }
        }
      }
    }
    return node_ports_.size();
  }

  // Every key as the access node reads it now.
  Model ReadAll() {
    LoopbackClient client(access_port_);
    Model read;
    for (int i = 0; i < kKeys; ++i) {
      const std::string key = "key" + std::to_string(i);
      EXPECT_TRUE(client.Send("get " + key + "\r\n"));
      const std::string reply = client.ReadUntil("END\r\n");
      const size_t header_end = reply.find("\r\n");
      if (reply.starts_with("VALUE ") && header_end != std::string::npos) {
        const size_t value_end = reply.find("\r\n", header_end + 2);
        read[key] = reply.substr(header_end + 2, value_end - header_end - 2);
      } else {
        read[key] = std::nullopt;
      }
    }
    return read;
  }

  // A quiet second, the state then, and each key's expiry then.
  struct Point {
    uint32_t second = 0;
    Model state;
    std::map<std::string, uint32_t> expiries;
  };

  // `bursts` bursts, each followed by a quiet second (nothing written in it: the state at
  // it is the model's). The center is SIGKILLed and restarted after the third burst;
  // `midway(burst)` runs halfway through each.
  std::vector<Point> Workload(int bursts, const std::function<void(int)>& midway) {
    for (int i = 0; i < kKeys; ++i) {
      model_["key" + std::to_string(i)] = std::nullopt;
    }
    std::vector<Point> points;
    LoopbackClient client(access_port_);
    for (int burst = 0; burst < bursts; ++burst) {
      Burst(burst, client, [&] { midway(burst); });
      const uint32_t quiet = UnixSeconds() + 1;
      points.push_back({quiet, model_, expiries_});
      SleepUntilSecond(quiet + 1);
      if (burst == 2) {
        center_->Signal(SIGKILL);
        center_->WaitExit(5s);
        StartCenter();  // It goes on from its files: no gap, no second lost.
      }
    }
    return points;
  }

  // Restores the cluster to `point`: every key reads as then, with the time to live it
  // would have now (within a second, and the second a set took).
  void ExpectRestored(const Point& point, const std::string& what) {
    const backup::RestoreReply reply = Restore(point.second);
    EXPECT_EQ(ReadAll(), point.state) << "restored to " << what << " (" << reply.restored
                                      << " set, " << reply.deleted << " deleted)";
    LoopbackClient client(access_port_);
    for (const auto& [key, value] : point.state) {
      if (!value) {
        continue;
      }
      ASSERT_TRUE(client.Send("mg " + key + " t\r\n"));
      const std::string reply = client.ReadUntil("\r\n");
      ASSERT_TRUE(reply.starts_with("HD t")) << key << ": " << reply;
      const int64_t ttl = std::stoll(reply.substr(4));
      const uint32_t expiry = point.expiries.at(key);
      if (expiry == 0) {
        EXPECT_EQ(ttl, -1) << key;
      } else {
        EXPECT_NEAR(static_cast<double>(ttl), static_cast<double>(expiry) - UnixSeconds(), 2)
            << key << " restored to " << what;
      }
    }
  }

  backup::RestoreReply Restore(uint32_t to) {
    const testing::HttpResponse response =
        testing::HttpRequest(center_port_, "POST", "/v1/restore", RestoreBody(to));
    EXPECT_EQ(response.status, 200) << response.body;
    auto reply = backup::ParseRestoreReply(nlohmann::json::parse(response.body, nullptr, false));
    EXPECT_TRUE(reply) << response.body;
    return reply ? *reply : backup::RestoreReply{};
  }

  testing::TempDir data_;
  std::unique_ptr<DaemonProcess> master_;
  std::vector<std::unique_ptr<DaemonProcess>> nodes_;
  std::vector<uint16_t> node_ports_;
  std::unique_ptr<DaemonProcess> access_;
  std::unique_ptr<DaemonProcess> center_;
  uint16_t master_port_ = 0;
  uint16_t access_port_ = 0;
  uint16_t center_port_ = 0;
  std::string master_url_;
  Model model_;
  std::map<std::string, uint32_t> expiries_;  // Of the keys set: absolute, 0 for none.
};

TEST_F(BackupCenterTest, RestoresToChosenSecondsMatchTheWritesExactly) {
  const size_t first_main = MainOf("g1");
  ASSERT_LT(first_main, nodes_.size());
  const std::vector<Point> points = Workload(6, [&](int burst) {
    if (burst == 4) {
      nodes_[first_main]->Signal(SIGKILL);  // The backup takes over; writes wait for it.
    }
  });
  ASSERT_NE(MainOf("g1"), first_main) << "the writes were taken by the new main";
  for (const backup::GroupBackupStatus& group : Status().groups) {
    ASSERT_EQ(group.restorable.size(), 1u) << group.group << ": a gap";
    EXPECT_LE(group.restorable[0].from, points.front().second) << group.group;
  }
  for (const size_t point : {3, 0, 5, 1, 4}) {
    ExpectRestored(points[point], "the quiet second after burst " + std::to_string(point));
  }
}

// A damaged segment: restores to the seconds that need it are refused, naming the file
// and the offset, and write nothing; every other second still restores exactly.
TEST_F(BackupCenterTest, ACorruptSegmentRefusesOnlyTheSecondsThatNeedIt) {
  const std::vector<Point> points = Workload(8, [](int) {});
  const std::filesystem::path g1 = data_.path() / "backup" / "g1";
  auto files = backup::GroupArchive::List(g1);
  ASSERT_TRUE(files);
  // A sealed segment with points before it (seconds its header says were complete
  // before its first record), points that need it, and points after the end of a dump
  // that does not need it (taken after its last record).
  struct Damage {
    std::filesystem::path file;
    uint32_t complete_before = 0;  // Its header's complete_until.
    uint32_t healed_at = 0;        // The end of the first dump that does not need it.
  };
  std::optional<Damage> damage;
  for (const backup::ArchiveFileInfo& segment : *files) {
    if (segment.header.kind != backup::FileKind::kSegment || !segment.end ||
        segment.end->records == 0) {
      continue;
    }
    Damage candidate{segment.path, segment.header.complete_until};
    for (const backup::ArchiveFileInfo& dump : *files) {
      if (dump.header.kind == backup::FileKind::kDump && dump.end &&
          dump.end->last_sequence >= segment.end->last_sequence) {
        candidate.healed_at = dump.end->last_time;
        break;
      }
    }
    auto count = [&](auto predicate) {
      return std::count_if(points.begin(), points.end(), predicate);
    };
    if (candidate.healed_at != 0 &&
        count([&](const Point& p) { return p.second <= candidate.complete_before; }) > 0 &&
        count([&](const Point& p) {
          return p.second > candidate.complete_before && p.second < candidate.healed_at;
        }) > 0 &&
        count([&](const Point& p) { return p.second >= candidate.healed_at; }) > 0) {
      damage = candidate;
      break;
    }
  }
  ASSERT_TRUE(damage) << "no segment lies between the points and a later dump";
  {
    std::fstream file(damage->file, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(std::filesystem::file_size(damage->file) / 2));
    file.put('\x5a');
  }
  int refused = 0;
  for (const Point& point : points) {
    if (point.second <= damage->complete_before || point.second >= damage->healed_at) {
      ExpectRestored(point, "a second that needs no damaged file");
      continue;
    }
    const Model before = ReadAll();
    const testing::HttpResponse response =
        testing::HttpRequest(center_port_, "POST", "/v1/restore", RestoreBody(point.second));
    EXPECT_EQ(response.status, 400) << response.body;
    EXPECT_THAT(response.body, ::testing::HasSubstr(damage->file.filename().string()));
    EXPECT_THAT(response.body, ::testing::HasSubstr("offset"));
    EXPECT_EQ(ReadAll(), before) << "a refused restore writes nothing";
    ++refused;
  }
  EXPECT_GT(refused, 0);
}

// A restore of one group's keys, slowed down by a rate, is cut short by the center's
// death; the center says so when it comes back, and `--resume` finishes it: that group's
// keys hold what they held then, the other group's what they hold now.
TEST_F(BackupCenterTest, ARestoreOfOneGroupCutShortIsResumed) {
  const std::vector<Point> points = Workload(3, [](int) {});
  const Point& then = points[0];
  const Model now = ReadAll();
  auto map = master::ParseClusterState(nlohmann::json::parse(
      testing::HttpRequest(master_port_, "GET", "/v1/cluster", "").body, nullptr, false));
  ASSERT_TRUE(map);
  auto group_of = [&](const std::string& key) {
    const uint32_t slot = base::ClusterSlotOf(key);
    for (const master::SlotRange& range : map->slot_ranges) {
      if (range.first <= slot && slot <= range.last) {
        return range.group;
      }
    }
    return std::string();
  };
  Model expected;
  for (const auto& [key, value] : now) {
    expected[key] = group_of(key) == "g1" ? then.state.at(key) : value;
  }
  ASSERT_NE(expected, now) << "the workload changed some of g1's keys";

  const testing::HttpResponse started = testing::HttpRequest(
      center_port_, "POST", "/v1/restore", RestoreBody(then.second, "g1", 20, false));
  ASSERT_EQ(started.status, 202) << started.body;
  auto planned = backup::ParseRestoreReply(nlohmann::json::parse(started.body, nullptr, false));
  ASSERT_TRUE(planned);
  EXPECT_EQ(planned->state, "writing");
  const uint64_t total = planned->restored + planned->deleted;
  ASSERT_GT(total, 10u);
  backup::RestoreReply progress;
  ASSERT_TRUE(Eventually(
      [&] {
        auto reply = backup::ParseRestoreReply(nlohmann::json::parse(
            testing::HttpGet(center_port_, "/v1/restore").body, nullptr, false));
        progress = reply ? *reply : backup::RestoreReply{};
        return progress.written > 0;
      },
      10s));
  center_->Signal(SIGKILL);
  center_->WaitExit(5s);
  ASSERT_EQ(progress.state, "writing") << "20 keys a second: not done within a second";
  ASSERT_LT(progress.written, total);

  StartCenter();
  auto interrupted = backup::ParseRestoreReply(
      nlohmann::json::parse(testing::HttpGet(center_port_, "/v1/restore").body, nullptr, false));
  ASSERT_TRUE(interrupted);
  EXPECT_EQ(interrupted->state, "interrupted");
  EXPECT_EQ(interrupted->to, then.second);
  EXPECT_EQ(interrupted->group, "g1");
  DaemonProcess resume({"backup", "restore", "--center",
                        "http://127.0.0.1:" + std::to_string(center_port_), "--resume", "--wait"});
  const std::optional<int> resumed = resume.WaitExit(60s);
  ASSERT_TRUE(resumed.has_value());
  ASSERT_EQ(WEXITSTATUS(*resumed), 0) << resume.Log();
  EXPECT_THAT(resume.Log(), ::testing::HasSubstr("(the keys of group g1)"));
  EXPECT_EQ(ReadAll(), expected);
}

// The center's files cannot grow (a full disk, simulated by a file size limit of one
// byte set on the running center): archiving stops, its status and metrics say so, and
// once writes succeed again it goes on from what its files hold, with no gap, since the
// mains' logs still hold the rest.
TEST_F(BackupCenterTest, ArchivingStopsWhileTheDiskIsFullAndResumesWithoutAGap) {
  std::vector<Point> points = Workload(2, [](int) {});
  auto set_file_limit = [&](rlim_t bytes) {
    const rlimit limit{bytes, RLIM_INFINITY};
    ASSERT_EQ(prlimit(center_->pid(), RLIMIT_FSIZE, &limit, nullptr), 0) << std::strerror(errno);
  };
  set_file_limit(1);
  // The metric and the status say so as soon as the next write fails.
  LoopbackClient client(access_port_);
  Burst(10, client, [] {});
  const uint16_t admin_port = center_->WaitForListening("admin");
  ASSERT_TRUE(Eventually(
      [&] {
        return testing::HttpGet(admin_port, "/metrics")
                   .body.find("trellis_backup_write_failing{group=\"g1\"} 1") != std::string::npos;
      },
      10s));
  const backup::BackupStatus failing = Status();
  ASSERT_EQ(failing.groups.size(), 2u);
  EXPECT_THAT(failing.groups[0].error, ::testing::HasSubstr("File too large"));
  const uint32_t quiet = UnixSeconds() + 1;
  points.push_back({quiet, model_, expiries_});
  SleepUntilSecond(quiet + 1);

  set_file_limit(RLIM_INFINITY);
  ASSERT_TRUE(Eventually(
      [&] {
        return testing::HttpGet(admin_port, "/metrics")
                   .body.find("trellis_backup_write_failing{group=\"g1\"} 0") != std::string::npos;
      },
      10s));
  for (const backup::GroupBackupStatus& group : Status().groups) {
    ASSERT_EQ(group.restorable.size(), 1u)
        << group.group << ": a gap\n"
        << testing::HttpGet(center_port_, "/v1/backup").body << "\n"
        << center_->Log();
  }
  ExpectRestored(points[2], "the quiet second while the disk was full");
  ExpectRestored(points[0], "the quiet second after the first burst");
}

// Every key's `get` reply (value and flags) through the access node at `port`.
std::map<std::string, std::string> Contents(uint16_t port, int keys) {
  LoopbackClient client(port);
  std::map<std::string, std::string> contents;
  for (int i = 0; i < keys; ++i) {
    const std::string key = "item" + std::to_string(i);
    EXPECT_TRUE(client.Send("get " + key + "\r\n"));
    contents[key] = client.ReadUntil("END\r\n");
  }
  return contents;
}

TEST_F(BackupCenterTest, ADumpOfTwoGroupsLoadsIntoThreeIdentically) {
  constexpr int kItems = 300;
  LoopbackClient client(access_port_);
  for (int i = 0; i < kItems; ++i) {
    const std::string value(static_cast<size_t>(1 + i % 50), static_cast<char>('a' + i % 26));
    ASSERT_TRUE(client.Send("set item" + std::to_string(i) + " " + std::to_string(i) + " " +
                            (i % 3 == 0 ? "3600" : "0") + " " + std::to_string(value.size()) +
                            "\r\n" + value + "\r\n"));
    ASSERT_EQ(client.ReadUntil("\r\n"), "STORED\r\n");
  }
  const std::string file = (data_.path() / "cluster.tdump").string();
  DaemonProcess dump({"backup", "dump", "--center",
                      "http://127.0.0.1:" + std::to_string(center_port_), "--out", file});
  ASSERT_EQ(dump.WaitExit(30s), 0) << dump.Log();

  // Another cluster, of three groups of one node each.
  DaemonProcess master(
      {"master", "--listen", "127.0.0.1:0", "--data", (data_.path() / "master3").string()});
  const uint16_t master_port = master.WaitForListening("master");
  const std::string url = "http://127.0.0.1:" + std::to_string(master_port);
  for (const char* group : {"a", "b", "c"}) {
    ASSERT_EQ(testing::HttpRequest(master_port, "POST", "/v1/groups",
                                   std::string(R"({"name": ")") + group + "\"}")
                  .status,
              201);
  }
  std::vector<std::unique_ptr<DaemonProcess>> nodes;
  for (const char* group : {"a", "b", "c"}) {
    nodes.push_back(std::make_unique<DaemonProcess>(
        std::vector<std::string>{"cache", "--listen", "127.0.0.1:0", "--threads", "1", "--memory",
                                 "16", "--master", url, "--group", group}));
    nodes.back()->WaitForListening("cache");
  }
  DaemonProcess access({"access", "--listen", "127.0.0.1:0", "--threads", "1", "--master", url});
  const uint16_t access_port = access.WaitForListening("access");
  DaemonProcess load(
      {"backup", "load", "--in", file, "--access", "127.0.0.1:" + std::to_string(access_port)});
  const std::optional<int> loaded = load.WaitExit(30s);
  ASSERT_TRUE(loaded.has_value());
  ASSERT_EQ(WEXITSTATUS(*loaded), 0) << load.Log();
  EXPECT_EQ(Contents(access_port, kItems), Contents(access_port_, kItems));

  // A damaged dump is refused, naming where.
  {
    std::fstream damaged(file, std::ios::in | std::ios::out | std::ios::binary);
    damaged.seekp(40);
    damaged.put('\x55');
  }
  DaemonProcess refused(
      {"backup", "load", "--in", file, "--access", "127.0.0.1:" + std::to_string(access_port)});
  const std::optional<int> status = refused.WaitExit(30s);
  ASSERT_TRUE(status.has_value());
  EXPECT_NE(WEXITSTATUS(*status), 0);
  EXPECT_THAT(refused.Log(), ::testing::HasSubstr("offset")) << refused.Log();
}

// The center registers with the master: `trellis cluster status` lists it with its API,
// its metrics and a summary line.
TEST_F(BackupCenterTest, TheCenterRegistersWithTheMaster) {
  master::ServiceStatus center;
  ASSERT_TRUE(Eventually(
      [&] {
        auto services = master::ParseServiceList(nlohmann::json::parse(
            testing::HttpGet(master_port_, "/v1/services").body, nullptr, false));
        if (!services || services->services.empty()) {
          return false;
        }
        center = services->services.front();
        return center.registration.summary.starts_with("2/2 groups streaming");
      },
      15s))
      << center.registration.summary;
  EXPECT_EQ(center.registration.name, "backup-center");
  EXPECT_EQ(center.registration.url, "http://127.0.0.1:" + std::to_string(center_port_));
  EXPECT_EQ(center.registration.metrics_url,
            "http://127.0.0.1:" + std::to_string(center_->WaitForListening("admin")) + "/metrics");
  DaemonProcess status({"cluster", "status", "--master", master_url_});
  ASSERT_EQ(status.WaitExit(10s), 0) << status.Log();
  EXPECT_THAT(status.Log(), ::testing::HasSubstr("backup-center"));
  EXPECT_THAT(status.Log(), ::testing::HasSubstr("2/2 groups streaming"));
}

TEST_F(BackupCenterTest, TimesOutsideTheArchiveAreRefusedWithTheRange) {
  const testing::HttpResponse response =
      testing::HttpRequest(center_port_, "POST", "/v1/restore", R"({"to": 1000000000})");
  EXPECT_EQ(response.status, 400) << response.body;
  EXPECT_NE(response.body.find("not restorable"), std::string::npos) << response.body;
  EXPECT_NE(response.body.find("restorable:"), std::string::npos) << response.body;
  const testing::HttpResponse future =
      testing::HttpRequest(center_port_, "POST", "/v1/restore",
                           R"({"to": )" + std::to_string(UnixSeconds() + 3600) + "}");
  EXPECT_EQ(future.status, 400) << future.body;
}

}  // namespace
}  // namespace trellis
