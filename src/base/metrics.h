// Metrics: counters, gauges and histograms that every daemon exposes on its admin
// endpoint in the Prometheus text exposition format (version 0.0.4).
//
// Hot paths (every request of the cache, every connection of the gateway) update
// metrics, so an update is one relaxed atomic add on a cache line that only the calling
// thread normally touches: values are striped over kStripes cells and summed on render.
// A daemon's composition root owns one Registry and passes references down; components
// look their metrics up once and keep the reference.
//
// Thread safety: internally synchronised. Registration takes a lock (start-up only);
// updates are lock-free; Render() may run concurrently with updates and sees each cell
// at some recent value.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace trellis::base {

// Label name/value pairs, e.g. {{"cmd", "get"}}. Names follow [a-zA-Z_][a-zA-Z0-9_]*.
using Labels = std::vector<std::pair<std::string, std::string>>;

namespace metrics_internal {

inline constexpr int kStripes = 16;

// The stripe this thread updates; assigned round-robin on the thread's first update.
int ThisThreadStripe();

template <typename T>
struct alignas(64) Cell {
  std::atomic<T> value{};
};

}  // namespace metrics_internal

// A monotonically increasing count.
class Counter {
 public:
  void Increment(uint64_t n = 1) {
    cells_[metrics_internal::ThisThreadStripe()].value.fetch_add(n, std::memory_order_relaxed);
  }
  uint64_t Value() const;

 private:
  std::array<metrics_internal::Cell<uint64_t>, metrics_internal::kStripes> cells_;
};

// A value that goes up and down (connections open, items stored).
class Gauge {
 public:
  void Add(int64_t n) {
    cells_[metrics_internal::ThisThreadStripe()].value.fetch_add(n, std::memory_order_relaxed);
  }
  // Set is for gauges with one writer (a periodic sampler); it is not atomic with Add.
  void Set(int64_t value);
  int64_t Value() const;

 private:
  std::array<metrics_internal::Cell<int64_t>, metrics_internal::kStripes> cells_;
};

// A distribution over fixed, increasing upper bounds (Prometheus "le" buckets).
class Histogram {
 public:
  // REQUIRES: bounds strictly increasing and non-empty.
  explicit Histogram(std::vector<double> bounds);

  void Observe(double value);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // One per bound, then +Inf.
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  struct alignas(64) Stripe {
    std::unique_ptr<std::atomic<uint64_t>[]> buckets;  // bounds_.size() + 1 entries.
    std::atomic<double> sum{0};
  };
  std::vector<double> bounds_;
  std::array<Stripe, metrics_internal::kStripes> stripes_;
};

// Latency buckets in seconds, from 10 µs to 10 s, for request and probe timings.
std::vector<double> LatencyBuckets();

class Registry {
 public:
  // Each returns the metric for (name, labels), creating it on first use. The reference
  // stays valid for the registry's lifetime. REQUIRES: a valid metric name, and the same
  // name never registered with two different types.
  Counter& GetCounter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& GetGauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& GetHistogram(const std::string& name, const std::string& help,
                          std::vector<double> bounds, const Labels& labels = {});

  // A counter or gauge whose value `read` supplies when the registry renders, for totals a
  // component keeps anyway (a store's item count, its evictions): nothing to update on
  // the hot path. REQUIRES: no Render() after what `read` uses is gone.
  void AddCounterCallback(const std::string& name, const std::string& help,
                          std::function<uint64_t()> read);
  void AddGaugeCallback(const std::string& name, const std::string& help,
                        std::function<int64_t()> read);

  // All metrics in the Prometheus text exposition format, families sorted by name.
  std::string Render() const;

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Family {
    Type type;
    std::string help;
    // Keyed by the rendered label set, e.g. `cmd="get"`.
    std::map<std::string, std::unique_ptr<Counter>> counters;
    std::map<std::string, std::unique_ptr<Gauge>> gauges;
    std::map<std::string, std::unique_ptr<Histogram>> histograms;
    std::function<double()> callback;  // Set for callback metrics, which have no labels.
  };
  Family& FamilyFor(const std::string& name, const std::string& help, Type type);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;  // Guarded by mu_.
};

}  // namespace trellis::base
