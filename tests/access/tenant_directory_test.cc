#include "access/tenant_directory.h"

#include <gtest/gtest.h>

#include <chrono>

#include "security/access_token.h"

namespace trellis::access {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(TenantUsageTest, TakesItsRateWithATenthOfASecondsBurstAndRefusesTheRest) {
  base::Registry metrics;
  TenantUsage usage(metrics, "t");
  const Clock::time_point start = Clock::now();
  // 100 a second: a burst of 10 at once, then one every 10 ms.
  int taken = 0;
  for (int i = 0; i < 50; ++i) {
    taken += usage.Admit(100, start) ? 1 : 0;
  }
  EXPECT_EQ(taken, 10);
  // The next 10 ms of rate are drawn on as soon as they begin, one request each.
  EXPECT_TRUE(usage.Admit(100, start + 1ms));
  EXPECT_FALSE(usage.Admit(100, start + 10ms));
  EXPECT_TRUE(usage.Admit(100, start + 11ms));
  // After a quiet second, a whole burst again, never more.
  taken = 0;
  for (int i = 0; i < 50; ++i) {
    taken += usage.Admit(100, start + 1s) ? 1 : 0;
  }
  EXPECT_EQ(taken, 10);
  EXPECT_EQ(metrics.GetCounter("trellis_tenant_requests_total", "", {{"tenant", "t"}}).Value(),
            22u);
  EXPECT_EQ(
      metrics.GetCounter("trellis_tenant_refused_total", "", {{"tenant", "t"}, {"reason", "rate"}})
          .Value(),
      81u);
}

TEST(TenantUsageTest, NoLimitTakesEverything) {
  base::Registry metrics;
  TenantUsage usage(metrics, "t");
  for (int i = 0; i < 10000; ++i) {
    ASSERT_TRUE(usage.Admit(0, Clock::time_point()));
  }
}

TEST(TenantUsageTest, ThePenaltyIsWhatTheRefusedRequestsWouldHaveTakenAtTheRate) {
  EXPECT_EQ(TenantUsage::Penalty(1000, 16), 16ms);
  EXPECT_EQ(TenantUsage::Penalty(3, 1), 333'333'333ns);
}

TEST(TenantDirectoryTest, LogsInWithTheRightPasswordOnlyAndKeepsMetersAcrossMaps) {
  base::Registry metrics;
  TenantRegistry registry(metrics);
  auto secret = security::MintSecret();
  ASSERT_TRUE(secret.ok());
  master::TenantState alice{"alice", 7, 2, 0, 100, secret->sha256_hex};
  auto first = registry.DirectoryOf({alice});
  const Tenant* in = first->Login("alice", secret->secret);
  ASSERT_NE(in, nullptr);
  EXPECT_EQ(in->key_prefix, "7.2:");
  EXPECT_EQ(first->Login("alice", secret->secret + "x"), nullptr);
  EXPECT_EQ(first->Login("alice", ""), nullptr);
  EXPECT_EQ(first->Login("bob", secret->secret), nullptr);
  // A later map (alice flushed: a new generation) keeps her meter, so her rate holds on.
  alice.generation = 3;
  auto second = registry.DirectoryOf({alice});
  EXPECT_EQ(second->Find("alice")->key_prefix, "7.3:");
  EXPECT_EQ(second->Find("alice")->usage, in->usage);
}

}  // namespace
}  // namespace trellis::access
