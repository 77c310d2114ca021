// The backup center (docs/backup.md) with real processes: a master, two groups of a main
// and a backup, an access node, and `trellis backup-center` archiving both groups. A
// client writes and deletes versioned values in bursts, each burst followed by a quiet
// second T; afterwards the cluster is restored to several of those seconds, in no
// particular order, and every key must read as it did at T. The center is SIGKILLed and
// restarted during the workload and takes periodic dumps meanwhile.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
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

// Sleeps until the wall clock is past the start of `second`.
void SleepUntilSecond(uint32_t second) {
  std::this_thread::sleep_until(
      std::chrono::system_clock::time_point(std::chrono::seconds(second)) + 50ms);
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
    }
    for (const char* group : {"g1", "g2"}) {
      for (int i = 0; i < 2; ++i) {
        nodes_.push_back(std::make_unique<DaemonProcess>(
            std::vector<std::string>{"cache", "--listen", "127.0.0.1:0", "--threads", "1",
                                     "--memory", "64", "--master", master_url_, "--group", group}));
        nodes_.back()->WaitForListening("cache");
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

  // Sets or deletes about half the keys (versioned values), as the model records.
  void Burst(int burst, LoopbackClient& client) {
    std::mt19937 random(static_cast<uint32_t>(burst));
    for (int i = 0; i < kKeys; ++i) {
      const std::string key = "key" + std::to_string(i);
      const uint32_t roll = random() % 10;
      if (roll < 4) {
        const std::string value = "v" + std::to_string(burst) + "-" + std::to_string(i);
        // Some with a time to live, a different one each burst.
        const uint32_t ttl = i % 4 == 0 ? 1000 + 100 * static_cast<uint32_t>(burst) : 0;
        const uint32_t sent = UnixSeconds();
        ASSERT_TRUE(client.Send("set " + key + " 0 " + std::to_string(ttl) + " " +
                                std::to_string(value.size()) + "\r\n" + value + "\r\n"));
        ASSERT_EQ(client.ReadUntil("\r\n"), "STORED\r\n");
        model_[key] = value;
        expiries_[key] = ttl == 0 ? 0 : sent + ttl;
      } else if (roll < 5) {
        ASSERT_TRUE(client.Send("delete " + key + "\r\n"));
        const std::string reply = client.ReadUntil("\r\n");
        ASSERT_TRUE(reply == "DELETED\r\n" || reply == "NOT_FOUND\r\n") << reply;
        model_[key] = std::nullopt;
      }
    }
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

  backup::RestoreReply Restore(uint32_t to) {
    const testing::HttpResponse response = testing::HttpRequest(
        center_port_, "POST", "/v1/restore", backup::ToJson(backup::RestoreRequest{to}).dump());
    EXPECT_EQ(response.status, 200) << response.body;
    auto reply = backup::ParseRestoreReply(nlohmann::json::parse(response.body, nullptr, false));
    EXPECT_TRUE(reply) << response.body;
    return reply ? *reply : backup::RestoreReply{};
  }

  testing::TempDir data_;
  std::unique_ptr<DaemonProcess> master_;
  std::vector<std::unique_ptr<DaemonProcess>> nodes_;
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
  for (int i = 0; i < kKeys; ++i) {
    model_["key" + std::to_string(i)] = std::nullopt;
  }
  // A quiet second, the state then, and each key's expiry then.
  std::vector<std::tuple<uint32_t, Model, std::map<std::string, uint32_t>>> points;
  LoopbackClient client(access_port_);
  for (int burst = 0; burst < 6; ++burst) {
    Burst(burst, client);
    // Nothing is written in the next second: the state at it is the model's now.
    const uint32_t quiet = UnixSeconds() + 1;
    points.emplace_back(quiet, model_, expiries_);
    SleepUntilSecond(quiet + 1);
    if (burst == 2) {
      center_->Signal(SIGKILL);
      center_->WaitExit(5s);
      StartCenter();  // It goes on from its files: no gap, no second lost.
    }
  }
  for (const backup::GroupBackupStatus& group : Status().groups) {
    ASSERT_EQ(group.restorable.size(), 1u) << group.group << ": a gap";
    EXPECT_LE(group.restorable[0].from, std::get<0>(points.front())) << group.group;
  }
  for (const size_t point : {3, 0, 5, 1, 4}) {
    const auto& [second, state, expiries] = points[point];
    const backup::RestoreReply reply = Restore(second);
    EXPECT_EQ(ReadAll(), state) << "restored to the quiet second after burst " << point << " ("
                                << reply.restored << " set, " << reply.deleted << " deleted)";
    // The time to live each key would have now, within a second (and the second a set took).
    LoopbackClient client(access_port_);
    for (const auto& [key, value] : state) {
      if (!value) {
        continue;
      }
      ASSERT_TRUE(client.Send("mg " + key + " t\r\n"));
      const std::string reply = client.ReadUntil("\r\n");
      ASSERT_TRUE(reply.starts_with("HD t")) << key << ": " << reply;
      const int64_t ttl = std::stoll(reply.substr(4));
      const uint32_t expiry = expiries.at(key);
      if (expiry == 0) {
        EXPECT_EQ(ttl, -1) << key;
      } else {
        EXPECT_NEAR(static_cast<double>(ttl), static_cast<double>(expiry) - UnixSeconds(), 2)
            << key << " restored to burst " << point;
      }
    }
  }
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
