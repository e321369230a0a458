// kiln: a transposing copy, the layout change a transposed view needs before a kernel that
// reads row-major operands takes it (a Keras LSTM's (I, 4H) kernels read as (4H, I)), and
// back for their gradients (kiln._tape copies with transpose_rows, on one thread).
//
//   src: (cols, rows) row-major, leading dimension ld_src >= rows
//   dst: (rows, cols) row-major, dst[i * cols + j] = src[j * ld_src + i]
//
// In square tiles that both sides stream through the L1 cache: NumPy's element-by-element copy
// of a transposed (4096, 1024) float32 view runs at about a tenth of a plain copy's speed.
#pragma once

#include <algorithm>

#include "kiln/common.hpp"

namespace kiln {

void transpose_copy(index_t rows, index_t cols, const float* src, index_t ld_src, float* dst);

// Rows [i0, i1) of transpose_copy's dst, 32 x 32 tiles at a time: each tile's source rows are
// read whole into a buffer, then each of its dst rows written whole. Reading or writing the
// matrices themselves down a column instead (a power-of-two stride) puts every access of a tile
// in one cache set, and runs no faster than NumPy's element-by-element copy.
inline void transpose_rows(index_t i0, index_t i1, index_t cols, const float* src, index_t ld_src,
                           float* dst) {
  constexpr index_t kTile = 32;
  float tile[kTile][kTile];
  for (index_t ib = i0; ib < i1; ib += kTile) {
    const index_t ni = std::min(i1 - ib, kTile);
    for (index_t jb = 0; jb < cols; jb += kTile) {
      const index_t nj = std::min(cols - jb, kTile);
      for (index_t j = 0; j < nj; ++j) {
        const float* s = src + (jb + j) * ld_src + ib;
        for (index_t i = 0; i < ni; ++i) tile[j][i] = s[i];
      }
      for (index_t i = 0; i < ni; ++i) {
        float* d = dst + (ib + i) * cols + jb;
        for (index_t j = 0; j < nj; ++j) d[j] = tile[j][i];
      }
    }
  }
}

}  // namespace kiln
