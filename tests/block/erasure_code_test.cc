#include "block/erasure_code.h"

#include <gtest/gtest.h>

#include <random>

namespace trellis::block {
namespace {

TEST(ErasureCodeTest, AnyFourOfSixPiecesGiveTheDataBack) {
  constexpr size_t kLength = 4096;
  const ErasureCode code(4, 2);
  std::mt19937 random(7);
  std::vector<std::vector<uint8_t>> pieces(6, std::vector<uint8_t>(kLength));
  for (size_t i = 0; i < 4; ++i) {
    for (uint8_t& byte : pieces[i]) {
      byte = static_cast<uint8_t>(random());
    }
  }
  code.Encode(kLength, {pieces[0].data(), pieces[1].data(), pieces[2].data(), pieces[3].data()},
              {pieces[4].data(), pieces[5].data()});
  int combinations = 0;
  for (int mask = 0; mask < 64; ++mask) {
    if (__builtin_popcount(mask) != 4) {
      continue;
    }
    std::vector<std::pair<int, const uint8_t*>> given;
    for (int i = 0; i < 6; ++i) {
      if ((mask & (1 << i)) != 0) {
        given.emplace_back(i, pieces[static_cast<size_t>(i)].data());
      }
    }
    std::vector<std::vector<uint8_t>> data(4, std::vector<uint8_t>(kLength));
    ASSERT_TRUE(code.Decode(kLength, given,
                            {data[0].data(), data[1].data(), data[2].data(), data[3].data()}));
    for (size_t i = 0; i < 4; ++i) {
      EXPECT_EQ(data[i], pieces[i]) << "mask " << mask << " piece " << i;
    }
    ++combinations;
  }
  EXPECT_EQ(combinations, 15);
}

TEST(ErasureCodeTest, ZeroesCodeToZeroesAndBadPieceListsAreRefused) {
  const ErasureCode code(2, 2);
  std::vector<uint8_t> zero(512, 0), a(512, 0), b(512, 0), p(512, 1), q(512, 1);
  code.Encode(512, {zero.data(), zero.data()}, {p.data(), q.data()});
  EXPECT_EQ(p, zero);  // Blocks never written read as zeroes on every piece, parity too.
  EXPECT_EQ(q, zero);
  EXPECT_FALSE(code.Decode(512, {{0, zero.data()}, {0, zero.data()}}, {a.data(), b.data()}));
  EXPECT_FALSE(code.Decode(512, {{0, zero.data()}}, {a.data(), b.data()}));
  EXPECT_FALSE(code.Decode(512, {{0, zero.data()}, {9, zero.data()}}, {a.data(), b.data()}));
}

}  // namespace
}  // namespace trellis::block
