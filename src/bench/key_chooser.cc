#include "bench/key_chooser.h"

#include <algorithm>
#include <cmath>

namespace trellis::bench {

base::Result<KeyPattern> ParseKeyPattern(const std::string& text) {
  if (text == "uniform") {
    return KeyPattern{KeyPattern::Kind::kUniform};
  }
  if (text == "sequential") {
    return KeyPattern{KeyPattern::Kind::kSequential};
  }
  if (text.starts_with("zipf:")) {
    char* end = nullptr;
    const double theta = std::strtod(text.c_str() + 5, &end);
    if (*end == '\0' && end != text.c_str() + 5 && theta > 0 && theta < 1) {
      return KeyPattern{KeyPattern::Kind::kZipf, theta};
    }
  }
  return base::InvalidArgument("--key-pattern: '" + text +
                               "' is not uniform, sequential or zipf:THETA with 0 < THETA < 1");
}

namespace {

// (exp(x) - 1) / x and log1p(x) / x, accurate near 0.
double ExpRatio(double x) { return std::abs(x) > 1e-8 ? std::expm1(x) / x : 1 + x / 2; }
double LogRatio(double x) { return std::abs(x) > 1e-8 ? std::log1p(x) / x : 1 - x / 2; }

}  // namespace

ZipfConstants::ZipfConstants(uint64_t n, double t) : keys(n), theta(t) {
  h_integral_x1 = H(1.5) - 1.0;
  h_integral_n = H(static_cast<double>(n) + 0.5);
  s = 2.0 - HInverse(H(2.5) - h(2.0));
}

double ZipfConstants::H(double x) const {
  const double log_x = std::log(x);
  return ExpRatio((1.0 - theta) * log_x) * log_x;
}

double ZipfConstants::HInverse(double x) const {
  double t = x * (1.0 - theta);
  t = std::max(t, -1.0);
  return std::exp(LogRatio(t) * x);
}

KeyChooser::KeyChooser(KeyPattern pattern, uint64_t keys, const ZipfConstants* zipf, uint64_t seed,
                       uint64_t first)
    : pattern_(pattern), keys_(keys), zipf_(zipf), random_(seed), next_sequential_(first) {}

uint64_t KeyChooser::Next() {
  switch (pattern_.kind) {
    case KeyPattern::Kind::kSequential:
      return next_sequential_++ % keys_;
    case KeyPattern::Kind::kUniform:
      return std::uniform_int_distribution<uint64_t>(0, keys_ - 1)(random_);
    case KeyPattern::Kind::kZipf: {
      const ZipfConstants& z = *zipf_;
      std::uniform_real_distribution<double> unit(0, 1);
      for (;;) {
        const double u = z.h_integral_n + unit(random_) * (z.h_integral_x1 - z.h_integral_n);
        const double x = z.HInverse(u);
        const double k = std::clamp(std::floor(x + 0.5), 1.0, static_cast<double>(keys_));
        if (k - x <= z.s || u >= z.H(k + 0.5) - z.h(k)) {
          return static_cast<uint64_t>(k) - 1;  // Rank k is key index k - 1.
        }
      }
    }
  }
  return 0;
}

}  // namespace trellis::bench
