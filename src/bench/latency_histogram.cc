#include "bench/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace trellis::bench {

// Values below kSubBuckets map one to one; above, bucket b (the position of the highest
// set bit beyond the sub-bucket bits) holds kSubBuckets linear steps of 2^b.
int LatencyHistogram::IndexOf(uint64_t value) {
  if (value < kSubBuckets) {
    return static_cast<int>(value);
  }
  const int shift = std::bit_width(value) - kSubBucketBits - 1;
  const int sub = static_cast<int>(value >> shift) - kSubBuckets;
  return (shift + 1) * kSubBuckets + sub;
}

uint64_t LatencyHistogram::LowestOf(int index) {
  if (index < kSubBuckets) {
    return static_cast<uint64_t>(index);
  }
  const int shift = index / kSubBuckets - 1;
  const uint64_t sub = static_cast<uint64_t>(index % kSubBuckets + kSubBuckets);
  return sub << shift;
}

uint64_t LatencyHistogram::HighestOf(int index) {
  if (index < kSubBuckets) {
    return static_cast<uint64_t>(index);
  }
  const int shift = index / kSubBuckets - 1;
  return LowestOf(index) + (uint64_t{1} << shift) - 1;
}

void LatencyHistogram::Record(uint64_t nanoseconds) {
  ++counts_[IndexOf(nanoseconds)];
  ++count_;
  min_ = std::min(min_, nanoseconds);
  max_ = std::max(max_, nanoseconds);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (int i = 0; i < kBuckets; ++i) {
    counts_[i] += other.counts_[i];
  }
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

uint64_t LatencyHistogram::Percentile(double percentile) const {
  if (count_ == 0) {
    return 0;
  }
  const uint64_t rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(percentile / 100.0 * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const uint64_t mid = LowestOf(i) + (HighestOf(i) - LowestOf(i)) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

}  // namespace trellis::bench
