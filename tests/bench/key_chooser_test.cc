#include "bench/key_chooser.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace trellis::bench {
namespace {

TEST(KeyChooserTest, ZipfFrequenciesFollowTheory) {
  constexpr uint64_t kKeys = 1000;
  constexpr int kDraws = 2'000'000;
  const ZipfConstants zipf(kKeys, 0.99);
  KeyChooser chooser({KeyPattern::Kind::kZipf, 0.99}, kKeys, &zipf, 1);
  std::vector<uint64_t> counts(kKeys);
  for (int i = 0; i < kDraws; ++i) {
    ++counts[chooser.Next()];
  }
  double zeta = 0;
  for (uint64_t r = 1; r <= kKeys; ++r) {
    zeta += std::pow(static_cast<double>(r), -0.99);
  }
  // P(rank r) = r^-theta / zeta(N, theta), ranks from 1.
  for (uint64_t rank : {1, 2, 3, 10, 100}) {
    const double expected = std::pow(static_cast<double>(rank), -0.99) / zeta;
    const double observed = static_cast<double>(counts[rank - 1]) / kDraws;
    EXPECT_NEAR(observed, expected, expected * 0.05) << "rank " << rank;
  }
  // The top 10% of keys take far more than 10% of requests.
  uint64_t top = 0;
  for (uint64_t i = 0; i < kKeys / 10; ++i) {
    top += counts[i];
  }
  EXPECT_GT(static_cast<double>(top) / kDraws, 0.6);
}

TEST(KeyChooserTest, UniformCoversEveryKeyEvenly) {
  KeyChooser chooser({KeyPattern::Kind::kUniform}, 100, nullptr, 3);
  std::vector<int> counts(100);
  for (int i = 0; i < 100000; ++i) {
    ++counts[chooser.Next()];
  }
  for (int c : counts) {
    EXPECT_NEAR(c, 1000, 150);
  }
}

TEST(KeyChooserTest, SequentialWrapsAround) {
  KeyChooser chooser({KeyPattern::Kind::kSequential}, 3, nullptr, 0);
  std::vector<uint64_t> keys;
  for (int i = 0; i < 7; ++i) {
    keys.push_back(chooser.Next());
  }
  EXPECT_EQ(keys, (std::vector<uint64_t>{0, 1, 2, 0, 1, 2, 0}));
}

TEST(KeyChooserTest, ParsesPatterns) {
  EXPECT_TRUE(ParseKeyPattern("uniform").ok());
  EXPECT_TRUE(ParseKeyPattern("sequential").ok());
  auto zipf = ParseKeyPattern("zipf:0.9");
  ASSERT_TRUE(zipf.ok());
  EXPECT_DOUBLE_EQ(zipf->theta, 0.9);
  for (const char* bad : {"zipf:", "zipf:1.5", "zipf:0", "zipf:x", "gauss"}) {
    EXPECT_FALSE(ParseKeyPattern(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace trellis::bench
