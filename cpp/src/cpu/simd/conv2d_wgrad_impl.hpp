// Internal: the stride-1 weight gradient's micro-kernel (conv2d_gemm.hpp), written once over
// a vector type (simd/vec_avx2.hpp, simd/vec_avx512.hpp) and instantiated per ISA:
//
//   c[i * ldc + j] += sum over q < kc of x[offsets[i] + q] * b[q * NR + j]    i < T, j < NR
//
// b is a panel of dy transposed (NR filters per grid pixel), x the padded input read in
// place: tap i of grid pixel q is a broadcast of one float, so nothing of x is packed.
// T x NV vectors of accumulators; per step NV loads of b and T broadcasts.
#pragma once

#include "kiln/common.hpp"

namespace kiln::detail::conv_wgrad {

template <class Vec, int T, int NV>
void tile(index_t kc, const float* x, const index_t* offsets, const float* b, float* c, index_t ldc) {
  constexpr int L = Vec::kLanes, NR = L * NV;
  const float* xt[T];
  for (int i = 0; i < T; ++i) xt[i] = x + offsets[i];
  Vec acc[T][NV];
  for (int i = 0; i < T; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = Vec::set1(0.0f);
  for (index_t q = 0; q < kc; ++q) {
    Vec bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = Vec::load(b + q * NR + v * L);
    for (int i = 0; i < T; ++i) {
      const Vec a = Vec::set1(xt[i][q]);
      for (int v = 0; v < NV; ++v) acc[i][v] = fmadd(a, bv[v], acc[i][v]);
    }
  }
  for (int i = 0; i < T; ++i)
    for (int v = 0; v < NV; ++v) {
      float* ci = c + i * ldc + v * L;
      Vec::store(ci, Vec::load(ci) + acc[i][v]);
    }
}

}  // namespace kiln::detail::conv_wgrad
