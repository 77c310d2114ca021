// ErasureCode: Reed-Solomon coding of K data pieces into M parity pieces over GF(2^8),
// by isa-l (Debian's libisal), for ec:K+M volumes (docs/block.md). Any K of the K+M
// pieces give back the K data pieces. The coefficients are a Cauchy matrix (isa-l's
// gf_gen_cauchy1_matrix), whose every square submatrix is invertible, so every choice of
// K surviving pieces decodes; a Vandermonde-style matrix does not promise that for all K
// and M.
//
// The coding is bytewise: piece i's byte n depends only on the data pieces' bytes n, so a
// caller codes whole runs of stripes at once (a range of each piece) in one call.
//
// Thread safety: const methods, any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace trellis::block {

class ErasureCode {
 public:
  // REQUIRES: 1 <= k, 1 <= m, k + m <= 255.
  ErasureCode(int k, int m);

  int k() const { return k_; }
  int m() const { return m_; }

  // Writes the m parity pieces of the k data pieces, each `length` bytes.
  void Encode(size_t length, const std::vector<const uint8_t*>& data,
              const std::vector<uint8_t*>& parity) const;
  // Rebuilds the k data pieces, each `length` bytes, from k pieces given with their
  // indices (0..k-1 data, k..k+m-1 parity). False if the indices are not k distinct ones.
  bool Decode(size_t length, const std::vector<std::pair<int, const uint8_t*>>& pieces,
              const std::vector<uint8_t*>& data) const;

 private:
  const int k_, m_;
  std::vector<uint8_t> matrix_;         // (k+m) x k: the identity, then the parity rows.
  std::vector<uint8_t> parity_tables_;  // isa-l's tables for the parity rows.
};

}  // namespace trellis::block
