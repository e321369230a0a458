// AVX2+FMA loops of sparse_matmul (contract in ../sparse_ukr.hpp).
//
// A CSR row times W keeps a block of up to 64 outputs in 8 ymm accumulators while it
// walks the row's terms, so y is read and written once per block, not once per term.
// The last vector of a row is masked rather than finished in scalar code: every element
// gets the same fused multiply-add, wherever the row's end falls.
#include <immintrin.h>

#include "../sparse_ukr.hpp"

namespace kiln::detail {
namespace {

constexpr index_t kLanes = 8;
constexpr int kBlockVectors = 8;

// Lanes [0, count) of a mask for maskload/maskstore (count in 1..8).
__m256i lane_mask(index_t count) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)), lanes);
}

// NV vectors of y from column 0 on; with Tail, the last one is masked by `mask`.
template <int NV, bool Tail>
void row_block(index_t terms, const std::int32_t* __restrict idx, const float* __restrict val,
               const float* __restrict w, index_t ldw, float* __restrict y, __m256i mask) {
  __m256 acc[NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v)
    acc[v] = (Tail && v == NV - 1) ? _mm256_maskload_ps(y + v * kLanes, mask)
                                   : _mm256_loadu_ps(y + v * kLanes);
  for (index_t t = 0; t < terms; ++t) {
    const float* wr = w + static_cast<index_t>(idx[t]) * ldw;
    const __m256 a = _mm256_broadcast_ss(val + t);
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      const __m256 x = (Tail && v == NV - 1) ? _mm256_maskload_ps(wr + v * kLanes, mask)
                                             : _mm256_loadu_ps(wr + v * kLanes);
      acc[v] = _mm256_fmadd_ps(a, x, acc[v]);
    }
  }
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    if (Tail && v == NV - 1) {
      _mm256_maskstore_ps(y + v * kLanes, mask, acc[v]);
    } else {
      _mm256_storeu_ps(y + v * kLanes, acc[v]);
    }
  }
}

// The last, partial block of a row: nv (1..8) vectors.
template <bool Tail>
void row_rest(int nv, index_t terms, const std::int32_t* idx, const float* val, const float* w,
              index_t ldw, float* y, __m256i mask) {
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

void sparse_row_avx2(index_t terms, const std::int32_t* idx, const float* val, const float* w,
                     index_t ldw, index_t n, float* y) {
  constexpr index_t block = kBlockVectors * kLanes;
  index_t j = 0;
  for (; j + block <= n; j += block)
    row_block<kBlockVectors, false>(terms, idx, val, w + j, ldw, y + j, __m256i{});
  const index_t rest = n - j;
  if (rest == 0) return;
  const int nv = static_cast<int>((rest + kLanes - 1) / kLanes);
  if (rest % kLanes == 0) {
    row_rest<false>(nv, terms, idx, val, w + j, ldw, y + j, __m256i{});
  } else {
    row_rest<true>(nv, terms, idx, val, w + j, ldw, y + j, lane_mask(rest % kLanes));
  }
}

void axpy_avx2(index_t n, float a, const float* __restrict x, float* __restrict y) {
  const __m256 va = _mm256_set1_ps(a);
  index_t j = 0;
  for (; j + 2 * kLanes <= n; j += 2 * kLanes) {
    const __m256 y0 = _mm256_fmadd_ps(va, _mm256_loadu_ps(x + j), _mm256_loadu_ps(y + j));
    const __m256 y1 =
        _mm256_fmadd_ps(va, _mm256_loadu_ps(x + j + kLanes), _mm256_loadu_ps(y + j + kLanes));
    _mm256_storeu_ps(y + j, y0);
    _mm256_storeu_ps(y + j + kLanes, y1);
  }
  for (; j < n; j += kLanes) {
    const index_t count = n - j < kLanes ? n - j : kLanes;
    const __m256i mask = lane_mask(count);
    const __m256 yj =
        _mm256_fmadd_ps(va, _mm256_maskload_ps(x + j, mask), _mm256_maskload_ps(y + j, mask));
    _mm256_maskstore_ps(y + j, mask, yj);
  }
}

}  // namespace kiln::detail
