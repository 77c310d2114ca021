#include "cache/write_gate.h"

#include <gtest/gtest.h>

namespace trellis::cache {
namespace {

using namespace std::chrono_literals;
using Clock = WriteGate::Clock;

bool Takes(const WriteGate& gate, Clock::time_point at) { return gate.Refusal(at).empty(); }

TEST(WriteGateTest, WithoutAMasterOnlyRoleAndFreezeCount) {
  const Clock::time_point now = Clock::now();
  WriteGate backup(/*fenced=*/false, /*backup=*/true);
  EXPECT_EQ(backup.Refusal(now), "SERVER_ERROR read only: this node is a backup\r\n");
  WriteGate main(/*fenced=*/false, /*backup=*/false);
  EXPECT_TRUE(Takes(main, now + 1h));
  main.SetFrozen(true);
  EXPECT_EQ(main.Refusal(now), "SERVER_ERROR read only: this main is frozen for a switchover\r\n");
}

TEST(WriteGateTest, AFencedMainTakesWritesForSevenEighthsOfALeaseFromWhenItAsked) {
  const Clock::time_point asked = Clock::now();
  WriteGate gate(/*fenced=*/true, /*backup=*/true);
  gate.BecomeMain(3, {});
  EXPECT_EQ(gate.Refusal(asked).substr(0, 32), "SERVER_ERROR read only: no lease");
  gate.RenewByMaster(3, asked, 800ms);
  EXPECT_TRUE(Takes(gate, asked + 699ms));
  EXPECT_FALSE(Takes(gate, asked + 700ms));
  EXPECT_EQ(gate.lease_length(), 800ms);
  // An older grant does not shorten it; a backup's acknowledgement extends it.
  gate.RenewByMaster(3, asked - 1s, 800ms);
  EXPECT_TRUE(Takes(gate, asked + 699ms));
  const Clock::time_point heartbeat = Clock::now();
  gate.RenewByBackup(heartbeat);
  EXPECT_TRUE(Takes(gate, heartbeat + 699ms));
  EXPECT_FALSE(Takes(gate, heartbeat + 700ms));
  // A token from the future is no heartbeat of this node's.
  gate.RenewByBackup(heartbeat + 1h);
  EXPECT_FALSE(Takes(gate, heartbeat + 700ms));
}

TEST(WriteGateTest, ALeaseCountsOnlyForTheEpochItWasGrantedFor) {
  const Clock::time_point asked = Clock::now();
  WriteGate gate(/*fenced=*/true, /*backup=*/true);
  // Backups extend a lease but never start one.
  gate.RenewByBackup(asked);
  gate.BecomeMain(1, {});
  EXPECT_FALSE(Takes(gate, asked));
  // A grant for the epoch the node is about to learn of waits for it.
  gate.RenewByMaster(2, asked, 1s);
  EXPECT_FALSE(Takes(gate, asked + 1ms));
  gate.BecomeMain(2, {});
  EXPECT_TRUE(Takes(gate, asked + 1ms));
  gate.BecomeBackup();
  EXPECT_FALSE(Takes(gate, asked + 1ms));
}

TEST(WriteGateTest, APromotedBackupWaitsOutThePreviousMainsLease) {
  const Clock::time_point now = Clock::now();
  WriteGate gate(/*fenced=*/true, /*backup=*/true);
  gate.RenewByMaster(5, now, 1s);
  gate.BecomeMain(5, now + 300ms);
  EXPECT_EQ(gate.Refusal(now + 299ms),
            "SERVER_ERROR read only: waiting out the previous main's lease\r\n");
  EXPECT_TRUE(Takes(gate, now + 300ms));
}

}  // namespace
}  // namespace trellis::cache
