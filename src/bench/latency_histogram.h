// LatencyHistogram: a log-bucketed histogram of durations in nanoseconds, HdrHistogram
// style: each power of two is split into 64 linear sub-buckets, so any recorded value is
// reported within 1/64 (1.6%) of itself, from 1 ns to hours, in 4 KiB of counters. The
// load generator keeps one per thread and merges them at the end.
//
// Thread safety: none; one per thread, merged after the threads join.
#pragma once

#include <array>
#include <cstdint>

namespace trellis::bench {

class LatencyHistogram {
 public:
  void Record(uint64_t nanoseconds);
  void Merge(const LatencyHistogram& other);

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  // The value at `percentile` (0-100]: the smallest bucket bound under which that share
  // of recorded values falls, reported as the bucket's midpoint. 0 when empty.
  uint64_t Percentile(double percentile) const;

 private:
  static constexpr int kSubBucketBits = 6;
  static constexpr int kSubBuckets = 1 << kSubBucketBits;
  static constexpr int kBuckets = (64 - kSubBucketBits + 1) * kSubBuckets;

  static int IndexOf(uint64_t value);
  static uint64_t LowestOf(int index);
  static uint64_t HighestOf(int index);

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace trellis::bench
