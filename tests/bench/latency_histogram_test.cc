#include "bench/latency_histogram.h"

#include <gtest/gtest.h>

#include <random>

namespace trellis::bench {
namespace {

TEST(LatencyHistogramTest, PercentilesOfAUniformSpreadAreWithinBucketPrecision) {
  LatencyHistogram histogram;
  for (uint64_t v = 1; v <= 100000; ++v) {
    histogram.Record(v * 1000);  // 1 us .. 100 ms.
  }
  EXPECT_EQ(histogram.count(), 100000u);
  EXPECT_EQ(histogram.min(), 1000u);
  EXPECT_EQ(histogram.max(), 100000000u);
  for (double p : {1.0, 50.0, 90.0, 99.0, 99.9}) {
    const double expected = p / 100.0 * 100000 * 1000;
    EXPECT_NEAR(static_cast<double>(histogram.Percentile(p)), expected, expected / 60) << p;
  }
  EXPECT_EQ(histogram.Percentile(100), histogram.max());
}

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  LatencyHistogram histogram;
  for (uint64_t v : {3, 7, 7, 9}) {
    histogram.Record(v);
  }
  EXPECT_EQ(histogram.Percentile(25), 3u);
  EXPECT_EQ(histogram.Percentile(50), 7u);
  EXPECT_EQ(histogram.Percentile(100), 9u);
}

TEST(LatencyHistogramTest, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 random(7);
  LatencyHistogram a, b, all;
  for (int i = 0; i < 50000; ++i) {
    const uint64_t v = random() % 10'000'000;
    (i % 3 == 0 ? a : b).Record(v);
    all.Record(v);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  for (double p : {10.0, 50.0, 99.0, 99.99}) {
    EXPECT_EQ(a.Percentile(p), all.Percentile(p)) << p;
  }
}

TEST(LatencyHistogramTest, EmptyHistogramReportsZero) {
  LatencyHistogram histogram;
  EXPECT_EQ(histogram.Percentile(50), 0u);
  EXPECT_EQ(histogram.min(), 0u);
}

}  // namespace
}  // namespace trellis::bench
