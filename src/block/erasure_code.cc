#include "block/erasure_code.h"

#include <isa-l/erasure_code.h>

#include <algorithm>

namespace trellis::block {

ErasureCode::ErasureCode(int k, int m)
    : k_(k),
      m_(m),
      matrix_(static_cast<size_t>((k + m) * k)),
      parity_tables_(static_cast<size_t>(k * m * 32)) {
  gf_gen_cauchy1_matrix(matrix_.data(), k + m, k);
  ec_init_tables(k, m, matrix_.data() + k * k, parity_tables_.data());
}

void ErasureCode::Encode(size_t length, const std::vector<const uint8_t*>& data,
                         const std::vector<uint8_t*>& parity) const {
  // isa-l takes non-const pointers and tables; it writes only `parity`.
  ec_encode_data(static_cast<int>(length), k_, m_, const_cast<uint8_t*>(parity_tables_.data()),
                 const_cast<uint8_t**>(data.data()), const_cast<uint8_t**>(parity.data()));
}

bool ErasureCode::Decode(size_t length, const std::vector<std::pair<int, const uint8_t*>>& pieces,
                         const std::vector<uint8_t*>& data) const {
  if (static_cast<int>(pieces.size()) != k_) {
    return false;
  }
  // The rows of the pieces given, inverted: data = inverse x pieces.
  std::vector<uint8_t> rows(static_cast<size_t>(k_ * k_));
  std::vector<bool> seen(static_cast<size_t>(k_ + m_), false);
  for (int r = 0; r < k_; ++r) {
    const int index = pieces[static_cast<size_t>(r)].first;
    if (index < 0 || index >= k_ + m_ || seen[static_cast<size_t>(index)]) {
      return false;
    }
    seen[static_cast<size_t>(index)] = true;
    std::copy_n(matrix_.begin() + index * k_, k_, rows.begin() + r * k_);
  }
  std::vector<uint8_t> inverse(rows.size());
  if (gf_invert_matrix(rows.data(), inverse.data(), k_) != 0) {
    return false;
  }
  std::vector<uint8_t> tables(static_cast<size_t>(k_ * k_ * 32));
  ec_init_tables(k_, k_, inverse.data(), tables.data());
  std::vector<const uint8_t*> sources;
  for (const auto& piece : pieces) {
    sources.push_back(piece.second);
  }
  ec_encode_data(static_cast<int>(length), k_, k_, tables.data(),
                 const_cast<uint8_t**>(sources.data()), const_cast<uint8_t**>(data.data()));
  return true;
}

}  // namespace trellis::block
