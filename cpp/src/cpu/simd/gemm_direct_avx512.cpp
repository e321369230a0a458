// AVX-512 direct GEMM for small products: no packing, A and B read in place.
//
// C is walked in tiles of up to 6 rows x 64 columns held in 24 zmm accumulators (a 64-wide
// B row is 4 loads, shared by 6 broadcasts of A: 24 FMAs per 10 loads, FMA-bound). The last
// vector of a tile is masked, so no edge goes through a scalar loop or a temporary. The
// epilogue (alpha, beta, bias, relu) runs on the accumulators before the one store. Each
// element of C sums over k in order, as the AVX2 direct kernel does.
//
// Compiled with -mavx512f (CMakeLists.txt) and called only when CPUID reports AVX-512
// (dispatch.cpp). Intrinsics only: every helper has internal linkage.
#include <immintrin.h>

#include "../gemm_ukr.hpp"

namespace kiln::detail {
namespace {

constexpr int kRows = 6;   // rows of a tile
constexpr int kVecs = 4;   // 16-float vectors across a tile

// VECS vectors of 16 columns from j0, the last one under `last` (all ones when whole).
template <int ROWS, int VECS>
void tile(const GemmDirectArgs& g, const float* b, index_t ldb, index_t i0, index_t j0,
          __mmask16 last) {
  auto load = [&](const float* p, int v) {
    return v == VECS - 1 ? _mm512_maskz_loadu_ps(last, p) : _mm512_loadu_ps(p);
  };
  const float* arow[ROWS];
#pragma GCC unroll 6
  for (int i = 0; i < ROWS; ++i) arow[i] = g.a + (i0 + i) * g.a_rs;
  __m512 acc[ROWS][VECS];
#pragma GCC unroll 6
  for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < VECS; ++v) acc[i][v] = _mm512_setzero_ps();

  const float* bp = b + j0;
  index_t off = 0;
#pragma GCC unroll 2
  for (index_t p = 0; p < g.k; ++p) {
    __m512 bv[VECS];
#pragma GCC unroll 4
    for (int v = 0; v < VECS; ++v) bv[v] = load(bp + 16 * v, v);
#pragma GCC unroll 6
    for (int i = 0; i < ROWS; ++i) {
      const __m512 ai = _mm512_set1_ps(arow[i][off]);
#pragma GCC unroll 4
      for (int v = 0; v < VECS; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    bp += ldb;
    off += g.a_cs;
  }

  const __m512 alpha = _mm512_set1_ps(g.alpha), beta = _mm512_set1_ps(g.beta);
  const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 6
  for (int i = 0; i < ROWS; ++i) {
    float* ci = g.c + (i0 + i) * g.ldc + j0;
    const __m512 row_bias = g.row_bias ? _mm512_set1_ps(g.row_bias[i0 + i]) : zero;
#pragma GCC unroll 4
    for (int v = 0; v < VECS; ++v) {
      __m512 r = _mm512_mul_ps(alpha, acc[i][v]);
      if (g.beta != 0.0f) r = _mm512_fmadd_ps(beta, load(ci + 16 * v, v), r);
      if (g.col_bias) r = _mm512_add_ps(r, load(g.col_bias + j0 + 16 * v, v));
      if (g.row_bias) r = _mm512_add_ps(r, row_bias);
      if (g.relu) r = _mm512_max_ps(zero, r);  // max returns its second operand for NaN
      if (v == VECS - 1) {
        _mm512_mask_storeu_ps(ci + 16 * v, last, r);
      } else {
        _mm512_storeu_ps(ci + 16 * v, r);
      }
    }
  }
}

template <int ROWS>
void row_block(const GemmDirectArgs& g, const float* b, index_t ldb, index_t i0) {
  constexpr index_t width = 16 * kVecs;
  index_t j = 0;
  for (; j + width <= g.n; j += width) tile<ROWS, kVecs>(g, b, ldb, i0, j, 0xFFFF);
  const index_t rest = g.n - j;
  if (rest == 0) return;
  const int vecs = static_cast<int>((rest + 15) / 16);
  const __mmask16 last = static_cast<__mmask16>(0xFFFFu >> (16 * vecs - rest));
  switch (vecs) {
    case 1: tile<ROWS, 1>(g, b, ldb, i0, j, last); break;
    case 2: tile<ROWS, 2>(g, b, ldb, i0, j, last); break;
    case 3: tile<ROWS, 3>(g, b, ldb, i0, j, last); break;
    default: tile<ROWS, 4>(g, b, ldb, i0, j, last); break;
  }
}

}  // namespace

void gemm_direct_avx512(const GemmDirectArgs& g) {
  const float* b = g.b;
  index_t ldb = g.b_rs;
  if (g.b_cs != 1 && g.n > 1) {
    gemm_direct_transpose_b_avx2(g, g.scratch);  // AVX-512 machines have AVX2
    b = g.scratch;
    ldb = g.n;
  }
  index_t i = 0;
  for (; i + kRows <= g.m; i += kRows) row_block<kRows>(g, b, ldb, i);
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
