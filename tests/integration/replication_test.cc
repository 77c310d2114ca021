// Main -> backup replication with real processes: a main `trellis cache` and a backup
// started with --replica-of, compared key by key (value, flags and CAS).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "testing/daemon_process.h"
#include "testing/held_port.h"
#include "testing/loopback_client.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;
using testing::DaemonProcess;
using testing::Eventually;
using ::testing::HasSubstr;
using testing::LoopbackClient;

std::unique_ptr<DaemonProcess> StartNode(const std::string& listen,
                                         std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"cache", "--listen", listen, "--threads", "2", "--memory", "32"};
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<DaemonProcess>(args);
}

// "mg <key> v f c": the item as the node has it (value, flags, CAS), or "EN".
std::string Item(LoopbackClient& client, const std::string& key) {
  client.Send("mg " + key + " v f c\r\nmn\r\n");
  return client.ReadUntil("MN\r\n");
}

// Waits until every key reads the same on both nodes; returns the keys that differ.
std::vector<std::string> Differences(uint16_t main_port, uint16_t backup_port,
                                     const std::vector<std::string>& keys,
                                     std::chrono::milliseconds patience = 5s) {
  LoopbackClient main(main_port);
  LoopbackClient backup(backup_port);
  std::vector<std::string> differ;
  Eventually(
      [&] {
        differ.clear();
        for (const std::string& key : keys) {
          if (Item(main, key) != Item(backup, key)) {
            differ.push_back(key);
          }
        }
        return differ.empty();
      },
      patience, 50ms);
  return differ;
}

std::vector<std::string> Keys(int count) {
  std::vector<std::string> keys;
  for (int i = 0; i < count; ++i) {
    keys.push_back("key" + std::to_string(i));
  }
  return keys;
}

TEST(ReplicationTest, BackupGetsASnapshotThenEveryChangeWithTheSameCas) {
  auto main = StartNode("127.0.0.1:0");
  const uint16_t main_port = main->WaitForListening("cache");
  const std::vector<std::string> keys = Keys(2000);
  LoopbackClient writer(main_port);
  for (size_t i = 0; i < 1000; ++i) {  // Before the backup exists: the snapshot's part.
    writer.Send("set " + keys[i] + " " + std::to_string(i) + " 0 5\r\nv" +
                std::to_string(10000 + i).substr(1) + "\r\n");
    ASSERT_EQ(writer.ReadUntil("\r\n"), "STORED\r\n");
  }
  auto backup =
      StartNode("127.0.0.1:0", {"--replica-of", "127.0.0.1:" + std::to_string(main_port)});
  const uint16_t backup_port = backup->WaitForListening("cache");
  // After: the stream's part, every kind of change.
  for (size_t i = 1000; i < keys.size(); ++i) {
    writer.Send("set " + keys[i] + " 7 0 1\r\n" + std::to_string(i % 10) + "\r\n");
    ASSERT_EQ(writer.ReadUntil("\r\n"), "STORED\r\n");
  }
  writer.Send(
      "delete key1\r\nincr key1500 5\r\nappend key2 0 0 3\r\nabc\r\ntouch key3 1000\r\n"
      "ms key4 2 I\r\nhi\r\nmn\r\n");
  EXPECT_EQ(writer.ReadUntil("MN\r\n"), "DELETED\r\n5\r\nSTORED\r\nTOUCHED\r\nHD\r\nMN\r\n");
  EXPECT_THAT(Differences(main_port, backup_port, keys), ::testing::IsEmpty());

  LoopbackClient client(backup_port);
  client.Send("set key5 0 0 1\r\nx\r\ndelete key6\r\nget key7\r\n");
  EXPECT_EQ(client.ReadUntil("END\r\n"),
            "SERVER_ERROR read only: this node is a backup\r\n"
            "SERVER_ERROR read only: this node is a backup\r\nVALUE key7 7 5\r\nv0007\r\nEND\r\n");

  // Only a main streams: a backup asked for a stream says no and sends no snapshot (a
  // node restarted empty would otherwise empty a backup that still follows it).
  LoopbackClient follower(backup_port);
  follower.Send("trellis-replicate 0 0\r\n");
  EXPECT_EQ(follower.ReadUntilClosed(), "SERVER_ERROR not a main: this node is a backup\r\n");
}

TEST(ReplicationTest, SyncModeAnswersAWriteOnlyWhenTheBackupHasIt) {
  auto main = StartNode("127.0.0.1:0",
                        {"--sync-replication", "--sync-timeout", "1", "--admin", "127.0.0.1:0"});
  const uint16_t main_port = main->WaitForListening("cache");
  const uint16_t admin_port = main->WaitForListening("admin");
  auto backup =
      StartNode("127.0.0.1:0", {"--replica-of", "127.0.0.1:" + std::to_string(main_port)});
  const uint16_t backup_port = backup->WaitForListening("cache");
  LoopbackClient writer(main_port);
  LoopbackClient reader(backup_port);
  // Until the backup is streaming, writes are answered degraded; wait for it.
  ASSERT_TRUE(Eventually(
      [&] {
        return testing::HttpGet(admin_port, "/metrics")
                   .body.find("trellis_replication_backups 1\n") != std::string::npos;
      },
      5s));
  for (int i = 0; i < 300; ++i) {
    const std::string key = "sync" + std::to_string(i);
    writer.Send("set " + key + " 0 0 1\r\n" + std::to_string(i % 10) + "\r\n");
    ASSERT_EQ(writer.ReadUntil("\r\n"), "STORED\r\n");
    // No waiting: an acknowledged write is already on the backup.
    reader.Send("get " + key + "\r\n");
    ASSERT_EQ(reader.ReadUntil("END\r\n"),
              "VALUE " + key + " 0 1\r\n" + std::to_string(i % 10) + "\r\nEND\r\n");
  }
  const std::string before = testing::HttpGet(admin_port, "/metrics").body;
  EXPECT_THAT(before, HasSubstr("trellis_replication_sync_degraded_total 0\n"));

  // Without a backup the main keeps answering (within the sync timeout, 1 s; how soon is
  // printed), and says so.
  backup.reset();
  ASSERT_TRUE(Eventually(
      [&] {
        return testing::HttpGet(admin_port, "/metrics")
                   .body.find("trellis_replication_backups 0\n") != std::string::npos;
      },
      5s));
  const auto start = std::chrono::steady_clock::now();
  writer.Send("set alone 0 0 1\r\nx\r\n");
  EXPECT_EQ(writer.ReadUntil("\r\n", 5s), "STORED\r\n");
  std::cout << "sync replication without a backup: a write answered after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - start)
                   .count()
            << " ms (--sync-timeout 1)\n";
  EXPECT_THAT(testing::HttpGet(admin_port, "/metrics").body,
              ::testing::ContainsRegex("trellis_replication_sync_degraded_total [1-9]"));
  const nlohmann::json status =
      nlohmann::json::parse(testing::HttpGet(admin_port, "/v1/status").body)["replication"];
  EXPECT_EQ(status["mode"], "sync");
  EXPECT_EQ(status["degraded"], true);
  EXPECT_GE(status["degraded_writes"].get<int>(), 1);
  EXPECT_EQ(status["backups"], 0);
}

TEST(ReplicationTest, ABackupThatStopsAcknowledgingCostsOneTimeoutNotOneForEachWrite) {
  auto main = StartNode("127.0.0.1:0",
                        {"--sync-replication", "--sync-timeout", "0.5", "--admin", "127.0.0.1:0"});
  const uint16_t main_port = main->WaitForListening("cache");
  const uint16_t admin_port = main->WaitForListening("admin");
  auto backup =
      StartNode("127.0.0.1:0", {"--replica-of", "127.0.0.1:" + std::to_string(main_port)});
  const uint16_t backup_port = backup->WaitForListening("cache");
  ASSERT_TRUE(testing::StatsShow(main_port, "STAT replication_backups 1", 5s));
  const auto replication = [&] {
    return nlohmann::json::parse(testing::HttpGet(admin_port, "/v1/status").body)["replication"];
  };
  EXPECT_EQ(replication()["degraded"], false);
  // The backup stays connected but answers nothing (its host cut off): once a write has
  // waited out the timeout, the main answers the next ones at once, and says so, until
  // the backup has acknowledged that write (MariaDB's semi-synchronous replication).
  ASSERT_TRUE(backup->Pause());
  LoopbackClient writer(main_port);
  writer.Send("set cut 0 0 1\r\nx\r\n");
  EXPECT_EQ(writer.ReadUntil("\r\n", 5s), "STORED\r\n");
  const nlohmann::json cut = replication();
  EXPECT_EQ(cut["backups"], 1);
  EXPECT_EQ(cut["degraded"], true);
  EXPECT_EQ(cut["degraded_writes"], 1);
  for (int i = 0; i < 20; ++i) {
    writer.Send("set cut" + std::to_string(i) + " 0 0 1\r\nx\r\n");
    ASSERT_EQ(writer.ReadUntil("\r\n", 5s), "STORED\r\n");
  }
  EXPECT_EQ(replication()["degraded_writes"], 21);
  // Back, it acknowledges, and writes wait for it again: each one acknowledged is on it.
  backup->Signal(SIGCONT);
  ASSERT_TRUE(Eventually([&] { return replication()["degraded"] == false; }, 5s));
  LoopbackClient reader(backup_port);
  for (int i = 0; i < 50; ++i) {
    const std::string key = "back" + std::to_string(i);
    writer.Send("set " + key + " 0 0 1\r\ny\r\n");
    ASSERT_EQ(writer.ReadUntil("\r\n"), "STORED\r\n");
    reader.Send("get " + key + "\r\n");
    ASSERT_EQ(reader.ReadUntil("END\r\n"), "VALUE " + key + " 0 1\r\ny\r\nEND\r\n") << i;
  }
  EXPECT_EQ(replication()["degraded_writes"], 21);
}

TEST(ReplicationTest, SyncRefuseAnswersAnUnreplicatedWriteWithAnError) {
  auto main =
      StartNode("127.0.0.1:0", {"--sync-replication", "--sync-refuse", "--sync-timeout", "0.3"});
  const uint16_t main_port = main->WaitForListening("cache");
  LoopbackClient client(main_port);
  client.Send("set k 0 0 1\r\nv\r\nset q 0 0 1 noreply\r\nq\r\nget k\r\nms m 1\r\nm\r\nmn\r\n");
  EXPECT_EQ(client.ReadUntil("MN\r\n", 5s),
            "SERVER_ERROR not replicated: no backup acknowledged in time\r\n"
            "VALUE k 0 1\r\nv\r\nEND\r\n"
            "SERVER_ERROR not replicated: no backup acknowledged in time\r\nMN\r\n")
      << "errors for the writes (none for noreply), the read answered as usual";
  auto backup =
      StartNode("127.0.0.1:0", {"--replica-of", "127.0.0.1:" + std::to_string(main_port)});
  backup->WaitForListening("cache");
  EXPECT_TRUE(Eventually(
      [&] {
        client.Send("set k 0 0 1\r\nw\r\n");
        return client.ReadUntil("\r\n", 5s) == "STORED\r\n";
      },
      10s))
      << "with a backup, writes are acknowledged again";
}

TEST(ReplicationTest, BackupFollowsARestartedMainAndDropsWhatItNoLongerHas) {
  testing::HeldPort held;  // The main restarts on its address.
  const uint16_t main_port = held.port();
  const std::string main_address = held.address();
  auto main = StartNode(main_address, {"--replication-log", "1"});
  main->WaitForListening("cache");
  auto backup = StartNode("127.0.0.1:0", {"--replica-of", main_address});
  const uint16_t backup_port = backup->WaitForListening("cache");
  const std::vector<std::string> keys = Keys(300);
  {
    LoopbackClient writer(main_port);
    for (const std::string& key : keys) {
      writer.Send("set " + key + " 0 0 4000 noreply\r\n" + std::string(4000, 'x') + "\r\n");
    }
    writer.Send("mn\r\n");
    writer.ReadUntil("MN\r\n");
  }
  // 1.2 MB of writes against a 1 MB log: whatever the backup missed comes by snapshot.
  EXPECT_THAT(Differences(main_port, backup_port, keys), ::testing::IsEmpty());

  // The main restarts empty: the backup follows it, old keys go.
  main.reset();
  main = StartNode(main_address);
  main->WaitForListening("cache");
  LoopbackClient writer(main_port);
  writer.Send("set fresh 0 0 1\r\nf\r\n");
  ASSERT_EQ(writer.ReadUntil("\r\n"), "STORED\r\n");
  std::vector<std::string> all = keys;
  all.push_back("fresh");
  EXPECT_THAT(Differences(main_port, backup_port, all), ::testing::IsEmpty());
  LoopbackClient reader(backup_port);
  reader.Send("get key0 fresh\r\n");
  EXPECT_EQ(reader.ReadUntil("END\r\n"), "VALUE fresh 0 1\r\nf\r\nEND\r\n");
}

}  // namespace
}  // namespace trellis
