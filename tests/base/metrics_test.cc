#include "base/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>
#include <sstream>
#include <thread>
#include <vector>

namespace trellis::base {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, ConcurrentIncrementsFromSeveralThreadsSumExactly) {
  Registry registry;
  Counter& counter = registry.GetCounter("test_ops_total", "Operations.");
  Gauge& gauge = registry.GetGauge("test_open", "Open things.");
  Histogram& histogram = registry.GetHistogram("test_seconds", "Timings.", LatencyBuckets());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 200000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        counter.Increment();
        gauge.Add(t % 2 == 0 ? 1 : -1);
        histogram.Observe(0.001);
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(counter.Value(), uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(gauge.Value(), 0);
  const Histogram::Snapshot snapshot = histogram.Read();
  EXPECT_EQ(snapshot.count, uint64_t{kThreads} * kPerThread);
  EXPECT_NEAR(snapshot.sum, 0.001 * kThreads * kPerThread, 1e-3);
}

TEST(MetricsTest, SameNameAndLabelsReturnTheSameMetric) {
  Registry registry;
  Counter& a = registry.GetCounter("test_total", "Help.", {{"cmd", "get"}});
  Counter& b = registry.GetCounter("test_total", "Help.", {{"cmd", "get"}});
  Counter& c = registry.GetCounter("test_total", "Help.", {{"cmd", "set"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &c);
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithInfinity) {
  Histogram histogram({1, 2, 4});
  for (double v : {0.5, 1.0, 1.5, 3.0, 100.0}) {
    histogram.Observe(v);
  }
  const Histogram::Snapshot snapshot = histogram.Read();
  EXPECT_EQ(snapshot.cumulative, (std::vector<uint64_t>{2, 3, 4, 5}));
  EXPECT_EQ(snapshot.count, 5u);
  EXPECT_DOUBLE_EQ(snapshot.sum, 106.0);
}

TEST(MetricsTest, RendersPrometheusTextFormat) {
  Registry registry;
  registry.GetCounter("test_requests_total", "Requests by command.", {{"cmd", "get"}}).Increment(3);
  registry.GetGauge("test_items", "Items\\stored\nnow.").Set(7);
  registry.GetCounter("test_escapes_total", "Escapes.", {{"v", "a\"b\\c\nd"}}).Increment();
  registry.GetHistogram("test_latency_seconds", "Latency.", {0.5, 1}).Observe(0.7);
  const std::string text = registry.Render();

  EXPECT_THAT(text, HasSubstr("# TYPE test_requests_total counter\n"
                              "test_requests_total{cmd=\"get\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("# HELP test_items Items\\\\stored\\nnow.\n# TYPE test_items gauge\n"
                              "test_items 7\n"));
  EXPECT_THAT(text, HasSubstr("test_escapes_total{v=\"a\\\"b\\\\c\\nd\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("test_latency_seconds_bucket{le=\"0.5\"} 0\n"
                              "test_latency_seconds_bucket{le=\"1\"} 1\n"
                              "test_latency_seconds_bucket{le=\"+Inf\"} 1\n"
                              "test_latency_seconds_sum 0.7\n"
                              "test_latency_seconds_count 1\n"));
}

TEST(MetricsTest, CallbackMetricsAreReadAtRenderTime) {
  Registry registry;
  uint64_t evictions = 1;
  int64_t items = 5;
  registry.AddCounterCallback("test_evictions_total", "Evictions.", [&] { return evictions; });
  registry.AddGaugeCallback("test_items", "Items.", [&] { return items; });
  EXPECT_THAT(registry.Render(), HasSubstr("# TYPE test_evictions_total counter\n"
                                           "test_evictions_total 1\n"));
  evictions = 7;
  items = 3;
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("test_evictions_total 7\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE test_items gauge\ntest_items 3\n"));
}

}  // namespace
}  // namespace trellis::base
