// The access proxy with real processes: two cache nodes (groups a and b) behind two
// access nodes, real sockets, real memccapable.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "access/route_table.h"
#include "testing/daemon_process.h"
#include "testing/held_port.h"
#include "testing/loopback_client.h"
#include "testing/memccapable.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;
using testing::DaemonProcess;
using testing::Eventually;
using ::testing::HasSubstr;
using testing::LoopbackClient;

std::vector<std::string> CacheArgs(const std::string& listen) {
  return {"cache", "--listen", listen, "--threads", "1", "--memory", "16"};
}

class AccessTest : public ::testing::Test {
 protected:
  AccessTest() {
    for (int i = 0; i < 2; ++i) {
      // Held: a test restarts a node on its address.
      node_holds_.emplace_back();
      nodes_.push_back(std::make_unique<DaemonProcess>(CacheArgs(node_holds_.back().address())));
      node_ports_.push_back(nodes_.back()->WaitForListening("cache"));
    }
    for (int i = 0; i < 2; ++i) {
      access_.push_back(std::make_unique<DaemonProcess>(std::vector<std::string>{
          "access", "--listen", "127.0.0.1:0", "--threads", "2", "--backend-timeout", "1",
          "--group", "a=127.0.0.1:" + std::to_string(node_ports_[0]), "--group",
          "b=127.0.0.1:" + std::to_string(node_ports_[1])}));
      access_ports_.push_back(access_.back()->WaitForListening("access"));
    }
  }

  // The node that the slot table gives `key` to: slots split evenly, a first.
  size_t GroupOf(const std::string& key) const {
    return access::RouteTable::SlotOf(key) < access::RouteTable::kSlots / 2 ? 0 : 1;
  }

  std::vector<testing::HeldPort> node_holds_;
  std::vector<std::unique_ptr<DaemonProcess>> nodes_;
  std::vector<uint16_t> node_ports_;
  std::vector<std::unique_ptr<DaemonProcess>> access_;
  std::vector<uint16_t> access_ports_;
};

// A thousand mixed requests over keys of both groups, in one pipelined write: the replies
// must be exactly those of one cache node given the same bytes, in the same order.
TEST_F(AccessTest, PipelinedRequestsAcrossGroupsComeBackInRequestOrder) {
  std::mt19937 random(7);
  std::string requests;
  for (int i = 0; i < 1000; ++i) {
    const std::string key = "key" + std::to_string(random() % 60);
    const std::string other = "key" + std::to_string(random() % 60);
    const std::string value = std::to_string(i);
    switch (random() % 9) {
      case 0:
        requests += "set " + key + " " + std::to_string(i) + " 0 " + std::to_string(value.size()) +
                    "\r\n" + value + "\r\n";
        break;
      case 1:
        requests += "get " + key + " " + other + " " + key + " missing" + value + "\r\n";
        break;
      case 2:
        requests += "delete " + key + "\r\n";
        break;
      case 3:
        requests += "incr " + key + " 3\r\n";
        break;
      case 4:
        requests += "mg " + key + " v f k O" + value + "\r\n";
        break;
      case 5:
        requests += "ms " + key + " " + std::to_string(value.size()) + " q T0\r\n" + value + "\r\n";
        break;
      case 6:
        requests += "mg " + key + " q v k\r\n";  // Quiet: a miss says nothing.
        break;
      case 7:
        requests += "append " + key + " 0 0 1 noreply\r\nx\r\n";
        break;
      default:
        requests += "add " + key + " 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n";
    }
  }
  requests += "mg __end__ Oend\r\n";
  DaemonProcess reference(CacheArgs("127.0.0.1:0"));
  LoopbackClient expected_client(reference.WaitForListening("cache"));
  expected_client.Send(requests);
  const std::string expected = expected_client.ReadUntil("EN Oend\r\n", 10s);
  LoopbackClient client(access_ports_[0]);
  client.Send(requests);
  const std::string actual = client.ReadUntil("EN Oend\r\n", 10s);
  ASSERT_THAT(expected, HasSubstr("VALUE"));
  EXPECT_EQ(actual, expected);
}

TEST_F(AccessTest, KeysLiveOnTheirGroupAndAnyAccessNodeReadsThem) {
  LoopbackClient writer(access_ports_[0]);
  LoopbackClient reader(access_ports_[1]);
  std::vector<std::unique_ptr<LoopbackClient>> direct;
  for (uint16_t port : node_ports_) {
    direct.push_back(std::make_unique<LoopbackClient>(port));
  }
  int per_group[2] = {0, 0};
  for (int i = 0; i < 200; ++i) {
    const std::string key = "k" + std::to_string(i);
    writer.Send("set " + key + " 0 0 1\r\n" + std::to_string(i % 10) + "\r\n");
    ASSERT_EQ(writer.ReadUntil("\r\n"), "STORED\r\n");
    reader.Send("get " + key + "\r\n");
    EXPECT_EQ(reader.ReadUntil("END\r\n"),
              "VALUE " + key + " 0 1\r\n" + std::to_string(i % 10) + "\r\nEND\r\n");
    const size_t group = GroupOf(key);
    ++per_group[group];
    direct[group]->Send("mg " + key + "\r\n");
    EXPECT_EQ(direct[group]->ReadUntil("\r\n"), "HD\r\n") << key << " is not on its group";
    direct[1 - group]->Send("mg " + key + "\r\n");
    EXPECT_EQ(direct[1 - group]->ReadUntil("\r\n"), "EN\r\n") << key << " is on the wrong group";
  }
  EXPECT_GT(per_group[0], 50);
  EXPECT_GT(per_group[1], 50);
}

TEST_F(AccessTest, MemccapableAsciiTestsPassThroughAccess) {
  testing::ExpectMemccapablePasses(access_ports_[0]);
}

// Finds a key of each group.
std::pair<std::string, std::string> KeysOfEachGroup() {
  std::string keys[2];
  for (int i = 0; keys[0].empty() || keys[1].empty(); ++i) {
    const std::string key = "probe" + std::to_string(i);
    keys[access::RouteTable::SlotOf(key) < access::RouteTable::kSlots / 2 ? 0 : 1] = key;
  }
  return {keys[0], keys[1]};
}

TEST_F(AccessTest, DeadGroupGetsServerErrorAtOnceAndRecoversWhenItReturns) {
  const auto [key_a, key_b] = KeysOfEachGroup();
  LoopbackClient client(access_ports_[0]);
  client.Send("set " + key_b + " 0 0 1\r\nb\r\n");
  ASSERT_EQ(client.ReadUntil("\r\n"), "STORED\r\n");
  const uint16_t port_b = node_ports_[1];
  nodes_[1].reset();  // SIGKILL: its connections reset.

  const auto start = std::chrono::steady_clock::now();
  client.Send("get " + key_b + "\r\nget " + key_a + "\r\nset " + key_a + " 0 0 1\r\na\r\n");
  const std::string replies = client.ReadUntil("STORED\r\n", 5s);
  std::cout << "dead group: SERVER_ERROR and the other group's replies after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - start)
                   .count()
            << " ms (--backend-timeout 1)\n";
  // "unavailable", not "timed out": the refused backend fails at once, without waiting.
  EXPECT_THAT(replies, ::testing::StartsWith("SERVER_ERROR backend 127.0.0.1:" +
                                             std::to_string(port_b) + " of group b unavailable"));
  EXPECT_THAT(replies, HasSubstr("\r\nEND\r\nSTORED\r\n")) << "group a must keep serving";
  client.Send("get " + key_a + " " + key_b + "\r\n");
  EXPECT_THAT(client.ReadUntil("\r\n"), ::testing::StartsWith("SERVER_ERROR"));

  // The node comes back on the same address: the proxy reconnects by itself.
  DaemonProcess revived(CacheArgs("127.0.0.1:" + std::to_string(port_b)));
  revived.WaitForListening("cache");
  EXPECT_TRUE(Eventually(
      [&] {
        client.Send("set " + key_b + " 0 0 1\r\nc\r\n");
        return client.ReadUntil("\r\n") == "STORED\r\n";
      },
      5s));
  client.Send("get " + key_a + " " + key_b + "\r\n");
  EXPECT_EQ(client.ReadUntil("END\r\n"),
            "VALUE " + key_a + " 0 1\r\na\r\nVALUE " + key_b + " 0 1\r\nc\r\nEND\r\n");
}

TEST_F(AccessTest, StalledNodeTimesOutInsteadOfHanging) {
  const auto [key_a, key_b] = KeysOfEachGroup();
  ASSERT_TRUE(nodes_[1]->Pause());
  LoopbackClient client(access_ports_[0]);
  const auto start = std::chrono::steady_clock::now();
  client.Send("get " + key_b + "\r\n");
  const std::string reply = client.ReadUntil("\r\n", 5s);
  const auto waited = std::chrono::steady_clock::now() - start;
  nodes_[1]->Signal(SIGCONT);
  std::cout << "stalled backend: SERVER_ERROR timed out after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()
            << " ms (--backend-timeout 1)\n";
  EXPECT_THAT(reply, ::testing::StartsWith("SERVER_ERROR"));
  EXPECT_THAT(reply, HasSubstr("timed out"));
  EXPECT_GE(waited, 900ms) << "answered before --backend-timeout 1";
}

TEST(AccessReadFromBackupTest, ReadsGoToTheBackupAndGoOnWithoutTheMain) {
  DaemonProcess main(CacheArgs("127.0.0.1:0"));
  const uint16_t main_port = main.WaitForListening("cache");
  DaemonProcess backup({"cache", "--listen", "127.0.0.1:0", "--threads", "1", "--replica-of",
                        "127.0.0.1:" + std::to_string(main_port)});
  const uint16_t backup_port = backup.WaitForListening("cache");
  DaemonProcess unrelated(CacheArgs("127.0.0.1:0"));  // Listed as a backup, never fed.
  const uint16_t unrelated_port = unrelated.WaitForListening("cache");
  auto access = [](uint16_t main, uint16_t backup, bool from_backup) {
    std::vector<std::string> args = {
        "access",
        "--listen",
        "127.0.0.1:0",
        "--threads",
        "1",
        "--group",
        "a=127.0.0.1:" + std::to_string(main) + ",127.0.0.1:" + std::to_string(backup)};
    if (from_backup) {
      args.push_back("--read-from-backup");
    }
    return std::make_unique<DaemonProcess>(args);
  };
  // Where reads go: to the backup with the flag, to the main without.
  auto to_unrelated = access(main_port, unrelated_port, true);
  auto to_main = access(main_port, unrelated_port, false);
  LoopbackClient writer(to_main->WaitForListening("access"));
  writer.Send("set k 0 0 1\r\nv\r\nget k\r\n");
  EXPECT_EQ(writer.ReadUntil("END\r\n"), "STORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n");
  LoopbackClient reader(to_unrelated->WaitForListening("access"));
  reader.Send("get k\r\nmg k v\r\nmg k v T30\r\n");
  EXPECT_EQ(reader.ReadUntil("VA 1\r\nv\r\n"), "END\r\nEN\r\nVA 1\r\nv\r\n")
      << "get and mg read the backup; mg with T changes the item, so it goes to the main";

  // A real backup: reads go on after the main is gone.
  auto replicated = access(main_port, backup_port, true);
  LoopbackClient client(replicated->WaitForListening("access"));
  client.Send("set r 0 0 2\r\nok\r\n");
  ASSERT_EQ(client.ReadUntil("\r\n"), "STORED\r\n");
  ASSERT_TRUE(Eventually(
      [&] {
        client.Send("get r\r\n");
        return client.ReadUntil("END\r\n") == "VALUE r 0 2\r\nok\r\nEND\r\n";
      },
      5s))
      << "the write never reached the backup";
  main.Signal(SIGKILL);
  main.WaitExit(5s);
  client.Send("get r\r\n");
  EXPECT_EQ(client.ReadUntil("END\r\n", 3s), "VALUE r 0 2\r\nok\r\nEND\r\n");
  client.Send("set r 0 0 1\r\nx\r\n");
  EXPECT_THAT(client.ReadUntil("\r\n", 3s), ::testing::StartsWith("SERVER_ERROR"));
}

}  // namespace
}  // namespace trellis
