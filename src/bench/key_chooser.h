// KeyChooser: which key the next request uses: uniform, Zipf(theta) (a few keys take
// most requests, as in real caches) or sequential. Zipf draws exactly from
// P(rank k) = k^-theta / H(N, theta) by rejection-inversion (Hormann and Derflinger,
// 1996, as in Apache Commons RNG): O(1) time and memory per draw, no O(N) table. (The
// Gray et al. method YCSB uses is only approximate beyond the first two ranks: measured
// 17% too many draws of rank 3 at theta 0.99.)
//
// Thread safety: none; one per load-generator connection.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>

#include "base/result.h"

namespace trellis::bench {

struct KeyPattern {
  enum class Kind { kUniform, kZipf, kSequential } kind = Kind::kUniform;
  double theta = 0.99;  // Zipf only; 0 < theta < 1.
};

// "uniform", "sequential" or "zipf:THETA".
base::Result<KeyPattern> ParseKeyPattern(const std::string& text);

// The Zipf sampler's constants for N keys, computed once and shared by every chooser.
struct ZipfConstants {
  ZipfConstants(uint64_t keys, double theta);
  double H(double x) const;  // The integral of h below.
  double HInverse(double x) const;
  double h(double x) const { return std::exp(-theta * std::log(x)); }

  uint64_t keys;
  double theta;
  double h_integral_x1;  // H(1.5) - 1.
  double h_integral_n;   // H(N + 0.5).
  double s;              // The acceptance shortcut width.
};

class KeyChooser {
 public:
  // REQUIRES: keys >= 1; `zipf` non-null for the Zipf pattern, outliving the chooser.
  KeyChooser(KeyPattern pattern, uint64_t keys, const ZipfConstants* zipf, uint64_t seed,
             uint64_t first = 0);

  // A key index in [0, keys).
  uint64_t Next();

 private:
  KeyPattern pattern_;
  uint64_t keys_;
  const ZipfConstants* zipf_;
  std::mt19937_64 random_;
  uint64_t next_sequential_;
};

}  // namespace trellis::bench
