// Fencing with real processes: a main is cut off from the master and from its backup
// (TcpRelays carry all their traffic to and from it) while a client still reaches it
// directly. The master promotes the backup; the old main must have stopped taking writes
// before the new one starts, so that no two mains of a group ever take writes at once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "testing/daemon_process.h"
#include "testing/held_port.h"
#include "testing/loopback_client.h"
#include "testing/tcp_relay.h"
#include "testing/temp_dir.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::DaemonProcess;
using testing::Eventually;
using testing::HttpRequest;
using testing::LoopbackClient;
using testing::TcpRelay;

class FencingTest : public ::testing::Test {
 protected:
  FencingTest()
      : master_({"master", "--listen", "127.0.0.1:0", "--data", data_.path().string(),
                 "--probe-interval", "0.2", "--failure-threshold", "3"}),
        master_port_(master_.WaitForListening("master")),
        to_master_(master_port_),
        main_port_(main_hold_.port()),
        to_main_(main_port_) {
    EXPECT_EQ(HttpRequest(master_port_, "POST", "/v1/groups", R"({"name": "g1"})").status, 201);
    // The main reaches the master, and is reached by it and by its backup, through relays.
    main_ = std::make_unique<DaemonProcess>(std::vector<std::string>{
        "cache", "--listen", main_hold_.address(), "--threads", "1", "--master",
        "http://127.0.0.1:" + std::to_string(to_master_.port()), "--group", "g1", "--advertise",
        "127.0.0.1:" + std::to_string(to_main_.port())});
    main_->WaitForListening("cache");
    main_admin_port_ = main_->WaitForListening("admin");
    EXPECT_TRUE(
        Eventually([&] { return Main() == "127.0.0.1:" + std::to_string(to_main_.port()); }, 5s));
    backup_port_ = backup_hold_.port();
    backup_ = std::make_unique<DaemonProcess>(std::vector<std::string>{
        "cache", "--listen", backup_hold_.address(), "--threads", "1", "--master",
        "http://127.0.0.1:" + std::to_string(master_port_), "--group", "g1"});
    backup_->WaitForListening("cache");
    EXPECT_TRUE(testing::StatsShow(main_port_, "STAT replication_backups 1", 5s));
  }

  std::string Main() {
    const nlohmann::json main = nlohmann::json::parse(
        HttpRequest(master_port_, "GET", "/v1/cluster", "").body)["groups"][0]["main"];
    return main.is_string() ? main.get<std::string>() : "";
  }

  testing::TempDir data_;
  // The nodes' ports, fixed because the relays and the map name them before they start.
  testing::HeldPort main_hold_;
  testing::HeldPort backup_hold_;
  DaemonProcess master_;
  uint16_t master_port_;
  TcpRelay to_master_;  // The main's way to the master.
  uint16_t main_port_;
  TcpRelay to_main_;  // The master's and the backup's way to the main.
  uint16_t backup_port_ = 0;
  uint16_t main_admin_port_ = 0;
  std::unique_ptr<DaemonProcess> main_;
  std::unique_ptr<DaemonProcess> backup_;
};

// Writes one key through `client`; true if STORED, else the reply goes to *refusal.
bool Set(LoopbackClient& client, const std::string& key, std::string* refusal) {
  client.Send("set " + key + " 0 0 1\r\nx\r\n");
  const std::string reply = client.ReadUntil("\r\n", 5s);
  if (reply == "STORED\r\n") {
    return true;
  }
  *refusal = reply;
  return false;
}

TEST_F(FencingTest, AMainCutOffFromMasterAndBackupStopsTakingWritesBeforeTheBackupStarts) {
  LoopbackClient old_main(main_port_);
  LoopbackClient new_main(backup_port_);
  std::string refusal;
  ASSERT_TRUE(Eventually([&] { return Set(old_main, "before", &refusal); }, 5s)) << refusal;

  to_main_.Cut();
  to_master_.Cut();
  const Clock::time_point cut = Clock::now();
  Clock::time_point old_main_last_stored = cut;
  Clock::time_point new_main_first_sent{};
  int taken_after_cut = 0;
  bool old_main_refuses = false;
  bool new_main_stores = false;
  int attempt = 0;
  // Both ends are tried every 2 ms, finer than the times measured.
  Eventually(
      [&] {
        ++attempt;
        if (!old_main_refuses) {
          if (Set(old_main, "old" + std::to_string(attempt), &refusal)) {
            old_main_last_stored = Clock::now();
            ++taken_after_cut;
          } else {
            old_main_refuses = true;
            EXPECT_THAT(refusal, ::testing::StartsWith("SERVER_ERROR read only: no lease"));
          }
        }
        if (!new_main_stores) {
          const Clock::time_point sent = Clock::now();
          std::string not_yet;
          if (Set(new_main, "new" + std::to_string(attempt), &not_yet)) {
            new_main_first_sent = sent;
            new_main_stores = true;
          }
        }
        return old_main_refuses && new_main_stores;
      },
      10s, 2ms);
  ASSERT_TRUE(old_main_refuses) << "the cut-off main still takes writes 10 s later";
  ASSERT_TRUE(new_main_stores) << "the backup was not promoted within 10 s";
  auto ms = [&](Clock::time_point at) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(at - cut).count();
  };
  std::cout << "fencing: the cut-off main took " << taken_after_cut
            << " writes after the cut, the last " << ms(old_main_last_stored)
            << " ms after it; the promoted backup took its first " << ms(new_main_first_sent)
            << " ms after it\n";
  EXPECT_LT(old_main_last_stored, new_main_first_sent);
  EXPECT_EQ(Main(), "127.0.0.1:" + std::to_string(backup_port_));
  EXPECT_FALSE(Set(old_main, "later", &refusal)) << "the old main stays fenced";
  EXPECT_THAT(testing::HttpGet(main_admin_port_, "/metrics").body,
              ::testing::HasSubstr("trellis_cache_read_only 1\n"));
}

// A main that hangs (SIGSTOP: a long pause, a frozen VM) is replaced; when it resumes
// its lease has run out, so it takes no write, even before it hears of the new map.
TEST_F(FencingTest, AHungMainIsReplacedAndResumesWithoutItsLease) {
  LoopbackClient old_main(main_port_);
  std::string refusal;
  ASSERT_TRUE(Eventually([&] { return Set(old_main, "before", &refusal); }, 5s)) << refusal;
  // Its messages to the master must not arrive late after it resumes (they would be
  // answered with the new map at once): the relay is cut with the pause.
  ASSERT_TRUE(main_->Pause());
  to_master_.Cut();
  const Clock::time_point paused = Clock::now();
  ASSERT_TRUE(
      Eventually([&] { return Main() == "127.0.0.1:" + std::to_string(backup_port_); }, 5s));
  const auto replaced = Clock::now() - paused;
  std::cout << "a hung main was replaced after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(replaced).count()
            << " ms (probes every 0.2 s, 3 failures)\n";
  // Until the backup hears of its promotion it still follows the old main and would
  // acknowledge the heartbeat the main sends on resuming, granting it a fresh lease (which
  // the promoted backup then waits out). Once the backup takes writes it follows no one.
  LoopbackClient new_main(backup_port_);
  ASSERT_TRUE(Eventually([&] { return Set(new_main, "promoted", &refusal); }, 5s)) << refusal;
  main_->Signal(SIGCONT);
  EXPECT_FALSE(Set(old_main, "after", &refusal));
  EXPECT_THAT(refusal, ::testing::StartsWith("SERVER_ERROR read only: no lease"));
}

}  // namespace
}  // namespace trellis
