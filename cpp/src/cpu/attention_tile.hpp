// Internal: the three loops of the attention kernels (cpu/attention.cpp), one version per ISA.
//
//   scores:  x (cols,), tile_t (cols x kAttentionKeyTile, transposed K or V tile)
//            s[jj] = scale * sum_c x[c] * tile_t[c][jj], jj < n
//   combine: p (n,), rows (n x cols)    acc[c] += sum_jj p[jj] * rows[jj][c]
//   rank1:   a (n,), x (cols,)          y[jj][c] += scale * a[jj] * x[c]  (y is n x cols)
//
// Every inner loop runs along contiguous memory and sums in one order, so the compiler
// vectorizes it as written; the per-ISA files (simd/attention_avx2.cpp, _avx512.cpp)
// compile attention_tile_impl.hpp with their -m flags. Declarations only here.
#pragma once

#include "kiln/common.hpp"

namespace kiln::detail {

using AttentionScoresKernel = void (*)(const float* x, const float* tile_t, index_t cols, index_t n,
                                       float scale, float* s);
using AttentionCombineKernel = void (*)(index_t n, const float* p, const float* rows, index_t cols,
                                        float* acc);
using AttentionRank1Kernel = void (*)(index_t n, const float* a, float scale, const float* x,
                                      index_t cols, float* y);

struct AttentionTileKernels {
  AttentionScoresKernel scores;
  AttentionCombineKernel combine;
  AttentionRank1Kernel rank1;
};

AttentionTileKernels attention_tile_kernels_portable();
AttentionTileKernels attention_tile_kernels_avx2();
AttentionTileKernels attention_tile_kernels_avx512();

}  // namespace kiln::detail
