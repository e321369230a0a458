// AVX2+FMA direct GEMM for small products: no packing, A and B read in place.
//
// C is walked in tiles of up to 6 rows x 16 columns held in 12 ymm accumulators; each
// step over k broadcasts 6 elements of A (any strides, so a transposed A costs nothing)
// and loads one row segment of B. The last tile of a row block masks its columns, so
// no edge goes through a scalar loop or a temporary. The epilogue (alpha, beta, bias,
// relu) runs on the accumulators before the one store.
//
// Compiled with -mavx2 -mfma (CMakeLists.txt) and called only when CPUID reports both
// (dispatch.cpp). Intrinsics only: every helper has internal linkage.
#include <immintrin.h>

#include "../gemm_ukr.hpp"
#include "transpose_8x8_avx.hpp"

namespace kiln::detail {
namespace {

// Lanes [0, count) on, count in 1..8.
__m256i lane_mask(index_t count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// VECS vectors of 8 columns from j0; with MASKED, the last one is partial (mask).
template <int ROWS, int VECS, bool MASKED>
void tile(const GemmDirectArgs& g, const float* b, index_t ldb, index_t i0, index_t j0,
          __m256i mask) {
  auto load = [&](const float* p, int v) {
    return MASKED && v == VECS - 1 ? _mm256_maskload_ps(p, mask) : _mm256_loadu_ps(p);
  };
  const float* arow[ROWS];
#pragma GCC unroll 6
  for (int i = 0; i < ROWS; ++i) arow[i] = g.a + (i0 + i) * g.a_rs;
  __m256 acc[ROWS][VECS];
#pragma GCC unroll 6
  for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 2
    for (int v = 0; v < VECS; ++v) acc[i][v] = _mm256_setzero_ps();

  const float* bp = b + j0;
  index_t off = 0;
#pragma GCC unroll 2
  for (index_t p = 0; p < g.k; ++p) {
    __m256 bv[VECS];
#pragma GCC unroll 2
    for (int v = 0; v < VECS; ++v) bv[v] = load(bp + 8 * v, v);
#pragma GCC unroll 6
    for (int i = 0; i < ROWS; ++i) {
      const __m256 ai = _mm256_broadcast_ss(arow[i] + off);
#pragma GCC unroll 2
      for (int v = 0; v < VECS; ++v) acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    bp += ldb;
    off += g.a_cs;
  }

  const __m256 alpha = _mm256_set1_ps(g.alpha), beta = _mm256_set1_ps(g.beta);
  const __m256 zero = _mm256_setzero_ps();
#pragma GCC unroll 6
  for (int i = 0; i < ROWS; ++i) {
    float* ci = g.c + (i0 + i) * g.ldc + j0;
    const __m256 row_bias = g.row_bias ? _mm256_set1_ps(g.row_bias[i0 + i]) : zero;
#pragma GCC unroll 2
    for (int v = 0; v < VECS; ++v) {
      __m256 r = _mm256_mul_ps(alpha, acc[i][v]);
      if (g.beta != 0.0f) r = _mm256_fmadd_ps(beta, load(ci + 8 * v, v), r);
      if (g.col_bias) r = _mm256_add_ps(r, load(g.col_bias + j0 + 8 * v, v));
      if (g.row_bias) r = _mm256_add_ps(r, row_bias);
      if (g.relu) r = _mm256_max_ps(zero, r);  // max returns its second operand for NaN
      if (MASKED && v == VECS - 1) {
        _mm256_maskstore_ps(ci + 8 * v, mask, r);
      } else {
        _mm256_storeu_ps(ci + 8 * v, r);
      }
    }
  }
}

template <int ROWS>
void row_block(const GemmDirectArgs& g, const float* b, index_t ldb, index_t i0) {
  const __m256i none = _mm256_setzero_si256();
  index_t j = 0;
  for (; j + 16 <= g.n; j += 16) tile<ROWS, 2, false>(g, b, ldb, i0, j, none);
  const index_t rest = g.n - j;
  if (rest > 8) {
    tile<ROWS, 2, true>(g, b, ldb, i0, j, lane_mask(rest - 8));
  } else if (rest == 8) {
    tile<ROWS, 1, false>(g, b, ldb, i0, j, none);
  } else if (rest > 0) {
    tile<ROWS, 1, true>(g, b, ldb, i0, j, lane_mask(rest));
  }
}

}  // namespace

void gemm_direct_transpose_b_avx2(const GemmDirectArgs& g, float* out) {
  const index_t k = g.k, n = g.n, ld = g.b_cs;  // source row j (a column of B) is contiguous
  index_t j = 0;
  for (; j + 8 <= n; j += 8) {
    index_t p = 0;
    for (; p + 8 <= k; p += 8) {
      __m256 r[8];
#pragma GCC unroll 8
      for (int t = 0; t < 8; ++t) r[t] = _mm256_loadu_ps(g.b + (j + t) * ld + p);
      simd::transpose_8x8(r);
#pragma GCC unroll 8
      for (int t = 0; t < 8; ++t) _mm256_storeu_ps(out + (p + t) * n + j, r[t]);
    }
    for (; p < k; ++p)
      for (index_t t = 0; t < 8; ++t) out[p * n + j + t] = g.b[(j + t) * ld + p];
  }
  for (; j < n; ++j)
    for (index_t p = 0; p < k; ++p) out[p * n + j] = g.b[j * ld + p];
}

void gemm_direct_avx2(const GemmDirectArgs& g) {
  const float* b = g.b;
  index_t ldb = g.b_rs;
  if (g.b_cs != 1 && g.n > 1) {
    gemm_direct_transpose_b_avx2(g, g.scratch);
    b = g.scratch;
    ldb = g.n;
  }
  index_t i = 0;
  for (; i + 6 <= g.m; i += 6) row_block<6>(g, b, ldb, i);
  switch (g.m - i) {
    case 5: row_block<5>(g, b, ldb, i); break;
    case 4: row_block<4>(g, b, ldb, i); break;
    case 3: row_block<3>(g, b, ldb, i); break;
    case 2: row_block<2>(g, b, ldb, i); break;
    case 1: row_block<1>(g, b, ldb, i); break;
    default: break;
  }
}

}  // namespace kiln::detail
