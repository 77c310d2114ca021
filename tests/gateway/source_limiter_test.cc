// Per-source limits of a listener: concurrent connections and a token bucket of new
// connections a second, with time passed in.
#include "gateway/source_limiter.h"

#include <gtest/gtest.h>

#include <vector>

namespace trellis::gateway {
namespace {

using Clock = SourceLimiter::Clock;
using namespace std::chrono_literals;

const boost::asio::ip::address kA = boost::asio::ip::make_address("10.0.0.1");
const boost::asio::ip::address kB = boost::asio::ip::make_address("10.0.0.2");

TEST(SourceLimiterTest, ConcurrentConnectionsPerSourceAreCapped) {
  LimitsConfig limits;
  limits.per_source_connections = 2;
  SourceLimiter limiter(limits);
  const Clock::time_point now{};
  std::vector<SourceLimiter::Admission> open;
  open.push_back(limiter.Admit(kA, now));
  open.push_back(limiter.Admit(kA, now));
  EXPECT_TRUE(open[0] && open[1]);
  EXPECT_FALSE(limiter.Admit(kA, now)) << "a third from the same source";
  EXPECT_TRUE(limiter.Admit(kB, now)) << "another source is not affected";
  open.pop_back();
  EXPECT_TRUE(limiter.Admit(kA, now)) << "one closed: room for one";
  open.clear();
  EXPECT_EQ(limiter.sources(), 0u) << "nothing open, no rate: nothing remembered";
}

TEST(SourceLimiterTest, NewConnectionsPerSecondFollowATokenBucket) {
  LimitsConfig limits;
  limits.per_source_rate = 10;
  limits.per_source_burst = 3;
  SourceLimiter limiter(limits);
  Clock::time_point now{};
  int admitted = 0;
  for (int i = 0; i < 10; ++i) {
    admitted += limiter.Admit(kA, now) ? 1 : 0;  // Each closed at once.
  }
  EXPECT_EQ(admitted, 3) << "the burst, then nothing";
  now += 100ms;  // One token back.
  EXPECT_TRUE(limiter.Admit(kA, now));
  EXPECT_FALSE(limiter.Admit(kA, now));
  now += 10s;  // Never more than the burst.
  admitted = 0;
  for (int i = 0; i < 10; ++i) {
    admitted += limiter.Admit(kA, now) ? 1 : 0;
  }
  EXPECT_EQ(admitted, 3);
  EXPECT_TRUE(limiter.Admit(kB, now)) << "each source has its own bucket";
}

TEST(SourceLimiterTest, NoLimitsAdmitEverything) {
  SourceLimiter limiter(LimitsConfig{});
  EXPECT_FALSE(limiter.active());
}

TEST(SourceLimiterTest, IdleSourcesWithAFullBucketAreForgotten) {
  LimitsConfig limits;
  limits.per_source_rate = 1000;
  SourceLimiter limiter(limits);
  Clock::time_point now{};
  for (uint32_t i = 0; i < 10000; ++i) {
    const boost::asio::ip::address source = boost::asio::ip::address_v4(0x0a000000 + i);
    ASSERT_TRUE(limiter.Admit(source, now));
    now += 1ms;
  }
  // Sources whose bucket refilled (a second after their connection) are swept out.
  EXPECT_LT(limiter.sources(), 8192u);
}

}  // namespace
}  // namespace trellis::gateway
