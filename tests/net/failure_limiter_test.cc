#include "net/failure_limiter.h"

#include <gtest/gtest.h>

namespace trellis::net {
namespace {

using namespace std::chrono_literals;
using Clock = FailureLimiter::Clock;

const boost::asio::ip::address kGuesser = boost::asio::ip::make_address("192.0.2.1");
const boost::asio::ip::address kNeighbour = boost::asio::ip::make_address("192.0.2.2");

TEST(FailureLimiterTest, AnAddressThatFailedTooOftenWaitsForItsBudgetAndNoOtherDoes) {
  FailureLimiter limiter;
  const Clock::time_point start = Clock::now();
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(limiter.Refusal(kGuesser, start), Clock::duration::zero()) << i;
    limiter.Failed(kGuesser, start);
  }
  EXPECT_EQ(limiter.Refusal(kGuesser, start), std::chrono::duration_cast<Clock::duration>(1s));
  EXPECT_EQ(limiter.Refusal(kNeighbour, start), Clock::duration::zero());
  // Half a second later, half a failure's worth has come back.
  EXPECT_EQ(limiter.Refusal(kGuesser, start + 500ms),
            std::chrono::duration_cast<Clock::duration>(500ms));
  // A second later it may fail once more, and then waits another second.
  EXPECT_EQ(limiter.Refusal(kGuesser, start + 1s), Clock::duration::zero());
  limiter.Failed(kGuesser, start + 1s);
  EXPECT_EQ(limiter.Refusal(kGuesser, start + 1s), std::chrono::duration_cast<Clock::duration>(1s));
  // After kBurst quiet seconds the whole budget is back.
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(limiter.Refusal(kGuesser, start + 21s), Clock::duration::zero()) << i;
    limiter.Failed(kGuesser, start + 21s);
  }
  EXPECT_GT(limiter.Refusal(kGuesser, start + 21s), Clock::duration::zero());
}

TEST(FailureLimiterTest, AddressesWhoseBudgetCameBackAreForgotten) {
  FailureLimiter limiter;
  const Clock::time_point start = Clock::now();
  for (uint32_t i = 0; i < 10000; ++i) {
    limiter.Failed(boost::asio::ip::address_v4(0x0a000000 + i), start);
  }
  EXPECT_EQ(limiter.sources(), 10000u);
  // A minute on every one of them has its budget whole again: the next sweep drops them.
  for (uint32_t i = 0; i < 10000; ++i) {
    limiter.Failed(boost::asio::ip::address_v4(0x0b000000 + i), start + 60s);
  }
  EXPECT_EQ(limiter.sources(), 10000u) << "the first ten thousand were swept out";
}

}  // namespace
}  // namespace trellis::net
