// AVX-512 loops of sparse_matmul (contract in ../sparse_ukr.hpp): the AVX2 file's scheme
// with 16 lanes and mask registers; a block is up to 128 outputs in 8 zmm accumulators.
#include <immintrin.h>

#include "../sparse_ukr.hpp"

namespace kiln::detail {
namespace {

constexpr index_t kLanes = 16;
constexpr int kBlockVectors = 8;

__mmask16 lane_mask(index_t count) {
  return static_cast<__mmask16>((1u << count) - 1u);
}

template <int NV, bool Tail>
void row_block(index_t terms, const std::int32_t* __restrict idx, const float* __restrict val,
               const float* __restrict w, index_t ldw, float* __restrict y, __mmask16 mask) {
  __m512 acc[NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v)
    acc[v] = (Tail && v == NV - 1) ? _mm512_maskz_loadu_ps(mask, y + v * kLanes)
                                   : _mm512_loadu_ps(y + v * kLanes);
  for (index_t t = 0; t < terms; ++t) {
    const float* wr = w + static_cast<index_t>(idx[t]) * ldw;
    const __m512 a = _mm512_set1_ps(val[t]);
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      const __m512 x = (Tail && v == NV - 1) ? _mm512_maskz_loadu_ps(mask, wr + v * kLanes)
                                             : _mm512_loadu_ps(wr + v * kLanes);
      acc[v] = _mm512_fmadd_ps(a, x, acc[v]);
    }
  }
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    if (Tail && v == NV - 1) {
      _mm512_mask_storeu_ps(y + v * kLanes, mask, acc[v]);
    } else {
      _mm512_storeu_ps(y + v * kLanes, acc[v]);
    }
  }
}

template <bool Tail>
void row_rest(int nv, index_t terms, const std::int32_t* idx, const float* val, const float* w,
              index_t ldw, float* y, __mmask16 mask) {
  switch (nv) {
    case 1: return row_block<1, Tail>(terms, idx, val, w, ldw, y, mask);
    case 2: return row_block<2, Tail>(terms, idx, val, w, ldw, y, mask);
    case 3: return row_block<3, Tail>(terms, idx, val, w, ldw, y, mask);
    case 4: return row_block<4, Tail>(terms, idx, val, w, ldw, y, mask);
    case 5: return row_block<5, Tail>(terms, idx, val, w, ldw, y, mask);
    case 6: return row_block<6, Tail>(terms, idx, val, w, ldw, y, mask);
    case 7: return row_block<7, Tail>(terms, idx, val, w, ldw, y, mask);
    default: return row_block<8, Tail>(terms, idx, val, w, ldw, y, mask);
  }
}

}  // namespace

void sparse_row_avx512(index_t terms, const std::int32_t* idx, const float* val, const float* w,
                       index_t ldw, index_t n, float* y) {
  constexpr index_t block = kBlockVectors * kLanes;
  index_t j = 0;
  for (; j + block <= n; j += block)
    row_block<kBlockVectors, false>(terms, idx, val, w + j, ldw, y + j, 0);
  const index_t rest = n - j;
  if (rest == 0) return;
  const int nv = static_cast<int>((rest + kLanes - 1) / kLanes);
  if (rest % kLanes == 0) {
    row_rest<false>(nv, terms, idx, val, w + j, ldw, y + j, 0);
  } else {
    row_rest<true>(nv, terms, idx, val, w + j, ldw, y + j, lane_mask(rest % kLanes));
  }
}

void axpy_avx512(index_t n, float a, const float* __restrict x, float* __restrict y) {
  const __m512 va = _mm512_set1_ps(a);
  index_t j = 0;
  for (; j + 2 * kLanes <= n; j += 2 * kLanes) {
    const __m512 y0 = _mm512_fmadd_ps(va, _mm512_loadu_ps(x + j), _mm512_loadu_ps(y + j));
    const __m512 y1 =
        _mm512_fmadd_ps(va, _mm512_loadu_ps(x + j + kLanes), _mm512_loadu_ps(y + j + kLanes));
    _mm512_storeu_ps(y + j, y0);
    _mm512_storeu_ps(y + j + kLanes, y1);
  }
  for (; j < n; j += kLanes) {
    const __mmask16 mask = lane_mask(n - j < kLanes ? n - j : kLanes);
    const __m512 yj = _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(mask, x + j),
                                      _mm512_maskz_loadu_ps(mask, y + j));
    _mm512_mask_storeu_ps(y + j, mask, yj);
  }
}

}  // namespace kiln::detail
