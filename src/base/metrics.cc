#include "base/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "base/check.h"

namespace trellis::base {
namespace metrics_internal {

int ThisThreadStripe() {
  static std::atomic<int> next{0};
  thread_local const int stripe = next.fetch_add(1, std::memory_order_relaxed) % kStripes;
  return stripe;
}

}  // namespace metrics_internal

namespace {

bool IsValidName(const std::string& name, bool allow_colon) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [&](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || (allow_colon && c == ':');
  });
}

std::string Escape(const std::string& text, bool quote) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

std::string RenderLabels(const Labels& labels) {
  std::string out;
  for (const auto& [name, value] : labels) {
    TRELLIS_CHECK(IsValidName(name, /*allow_colon=*/false));
    if (!out.empty()) {
      out += ',';
    }
    out += fmt::format("{}=\"{}\"", name, Escape(value, /*quote=*/true));
  }
  return out;
}

std::string FormatDouble(double v) {
  if (std::isinf(v)) {
    return v > 0 ? "+Inf" : "-Inf";
  }
  return fmt::format("{}", v);
}

// `name{labels}` or `name{labels,extra}`, or plain `name` with no labels at all.
std::string Series(const std::string& name, const std::string& labels,
                   const std::string& extra = "") {
  std::string all = labels;
  if (!extra.empty()) {
    all += (all.empty() ? "" : ",") + extra;
  }
  return all.empty() ? name : fmt::format("{}{{{}}}", name, all);
}

}  // namespace

uint64_t Counter::Value() const {
  uint64_t total = 0;
  for (const auto& cell : cells_) {
    total += cell.value.load(std::memory_order_relaxed);
  }
  return total;
}

void Gauge::Set(int64_t value) {
  for (auto& cell : cells_) {
    cell.value.store(0, std::memory_order_relaxed);
  }
  cells_[0].value.store(value, std::memory_order_relaxed);
}

int64_t Gauge::Value() const {
  int64_t total = 0;
  for (const auto& cell : cells_) {
    total += cell.value.load(std::memory_order_relaxed);
  }
  return total;
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  TRELLIS_CHECK(!bounds_.empty() && std::is_sorted(bounds_.begin(), bounds_.end()) &&
                std::adjacent_find(bounds_.begin(), bounds_.end()) == bounds_.end());
  for (Stripe& stripe : stripes_) {
    stripe.buckets = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  }
}

void Histogram::Observe(double value) {
  const size_t bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  Stripe& stripe = stripes_[metrics_internal::ThisThreadStripe()];
  stripe.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  stripe.sum.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  snapshot.cumulative.assign(bounds_.size() + 1, 0);
  for (const Stripe& stripe : stripes_) {
    for (size_t i = 0; i <= bounds_.size(); ++i) {
      snapshot.cumulative[i] += stripe.buckets[i].load(std::memory_order_relaxed);
    }
    snapshot.sum += stripe.sum.load(std::memory_order_relaxed);
  }
  for (size_t i = 1; i < snapshot.cumulative.size(); ++i) {
    snapshot.cumulative[i] += snapshot.cumulative[i - 1];
  }
  snapshot.count = snapshot.cumulative.back();
  return snapshot;
}

std::vector<double> LatencyBuckets() {
  return {0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
          0.025,   0.05,     0.1,     0.25,   0.5,     1,      2.5,   5,      10};
}

Registry::Family& Registry::FamilyFor(const std::string& name, const std::string& help, Type type) {
  TRELLIS_CHECK(IsValidName(name, /*allow_colon=*/true));
  auto [it, inserted] = families_.try_emplace(name, Family{type, help, {}, {}, {}, {}});
  TRELLIS_CHECK(it->second.type == type);
  return it->second;
}

Counter& Registry::GetCounter(const std::string& name, const std::string& help,
                              const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& slot = FamilyFor(name, help, Type::kCounter).counters[RenderLabels(labels)];
  if (!slot) {
    slot = std::make_unique<Counter>();
  }
  return *slot;
}

Gauge& Registry::GetGauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& slot = FamilyFor(name, help, Type::kGauge).gauges[RenderLabels(labels)];
  if (!slot) {
    slot = std::make_unique<Gauge>();
  }
  return *slot;
}

Histogram& Registry::GetHistogram(const std::string& name, const std::string& help,
                                  std::vector<double> bounds, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& slot = FamilyFor(name, help, Type::kHistogram).histograms[RenderLabels(labels)];
  if (!slot) {
    slot = std::make_unique<Histogram>(std::move(bounds));
  }
  return *slot;
}

void Registry::AddCounterCallback(const std::string& name, const std::string& help,
                                  std::function<uint64_t()> read) {
  std::lock_guard lock(mu_);
  FamilyFor(name, help, Type::kCounter).callback = [read = std::move(read)] {
    return static_cast<double>(read());
  };
}

void Registry::AddGaugeCallback(const std::string& name, const std::string& help,
                                std::function<int64_t()> read) {
  std::lock_guard lock(mu_);
  FamilyFor(name, help, Type::kGauge).callback = [read = std::move(read)] {
    return static_cast<double>(read());
  };
}

std::string Registry::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, family] : families_) {
    out += fmt::format("# HELP {} {}\n", name, Escape(family.help, /*quote=*/false));
    switch (family.type) {
      case Type::kCounter:
        out += fmt::format("# TYPE {} counter\n", name);
        if (family.callback) {
          out += fmt::format("{} {}\n", name, FormatDouble(family.callback()));
        }
        for (const auto& [labels, counter] : family.counters) {
          out += fmt::format("{} {}\n", Series(name, labels), counter->Value());
        }
        break;
      case Type::kGauge:
        out += fmt::format("# TYPE {} gauge\n", name);
        if (family.callback) {
          out += fmt::format("{} {}\n", name, FormatDouble(family.callback()));
        }
        for (const auto& [labels, gauge] : family.gauges) {
          out += fmt::format("{} {}\n", Series(name, labels), gauge->Value());
        }
        break;
      case Type::kHistogram:
        out += fmt::format("# TYPE {} histogram\n", name);
        for (const auto& [labels, histogram] : family.histograms) {
          const Histogram::Snapshot snap = histogram->Read();
          const std::vector<double>& bounds = histogram->bounds();
          for (size_t i = 0; i <= bounds.size(); ++i) {
            const double le = i < bounds.size() ? bounds[i] : INFINITY;
            out += fmt::format(
                "{} {}\n",
                Series(name + "_bucket", labels, fmt::format("le=\"{}\"", FormatDouble(le))),
                snap.cumulative[i]);
          }
          out += fmt::format("{} {}\n", Series(name + "_sum", labels), FormatDouble(snap.sum));
          out += fmt::format("{} {}\n", Series(name + "_count", labels), snap.count);
        }
        break;
    }
  }
  return out;
}

}  // namespace trellis::base
