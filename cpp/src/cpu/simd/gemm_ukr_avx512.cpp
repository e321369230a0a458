// AVX-512 GEMM micro-kernel: a 14 x 32 tile of C in 28 zmm accumulators, its 4- and 8-row
// forms for C's bottom edge; and the packing of A's 14-row panels.
//
// Compiled with -mavx512f (CMakeLists.txt) and called only when CPUID reports
// AVX-512 (dispatch.cpp). The file uses intrinsics and nothing from the standard
// library, so no inline function compiled for AVX-512 can leak into portable code.
#include <immintrin.h>

#include "../gemm_ukr.hpp"

namespace kiln::detail {
namespace {

constexpr int MR = 14;
constexpr int NR = 32;

// ROWS rows of C's 14 x 32 tile from a 14-row A panel: the whole tile, or a short one at C's
// bottom edge (rows 4 or 8 of 14: a 32- or 64-row batch is then 2 or 4 whole tiles and one short
// one, not 3 or 5 whole ones). Every element is the same chain of FMAs whatever ROWS is.
template <int ROWS>
void tile_rows(index_t k, const float* __restrict a, const float* __restrict b, float* __restrict c,
               index_t ldc, float alpha, float beta) {
  __m512 acc[ROWS][2];
#pragma GCC unroll 14
  for (int i = 0; i < ROWS; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();

  for (index_t p = 0; p < k; ++p) {
    const __m512 b0 = _mm512_load_ps(b);
    const __m512 b1 = _mm512_load_ps(b + 16);
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * NR), _MM_HINT_T0);
#pragma GCC unroll 14
    for (int i = 0; i < ROWS; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
    }
    a += MR;
    b += NR;
  }

  const __m512 va = _mm512_set1_ps(alpha);
  if (beta == 0.0f) {
#pragma GCC unroll 14
    for (int i = 0; i < ROWS; ++i) {
      _mm512_storeu_ps(c + i * ldc, _mm512_mul_ps(va, acc[i][0]));
      _mm512_storeu_ps(c + i * ldc + 16, _mm512_mul_ps(va, acc[i][1]));
    }
  } else {
    const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 14
    for (int i = 0; i < ROWS; ++i) {
      float* ci = c + i * ldc;
      _mm512_storeu_ps(ci, _mm512_fmadd_ps(va, acc[i][0], _mm512_mul_ps(vb, _mm512_loadu_ps(ci))));
      _mm512_storeu_ps(ci + 16,
                       _mm512_fmadd_ps(va, acc[i][1], _mm512_mul_ps(vb, _mm512_loadu_ps(ci + 16))));
    }
  }
}

}  // namespace

void gemm_ukr_avx512_14x32(index_t k, const float* a, const float* b, float* c, index_t ldc,
                           float alpha, float beta) {
  tile_rows<MR>(k, a, b, c, ldc, alpha, beta);
}

void gemm_ukr_avx512_4x32_of14(index_t k, const float* a, const float* b, float* c, index_t ldc,
                               float alpha, float beta) {
  tile_rows<4>(k, a, b, c, ldc, alpha, beta);
}

void gemm_ukr_avx512_8x32_of14(index_t k, const float* a, const float* b, float* c, index_t ldc,
                               float alpha, float beta) {
  tile_rows<8>(k, a, b, c, ldc, alpha, beta);
}

// 16 columns at a time: 14 row segments (and 2 zero rows) through a 16 x 16 register
// transpose (pairs, quads, then 128-bit lanes), each column's 14 floats one masked store.
void gemm_pack_a_avx512_14(index_t kc, const float* a, index_t rs, float* out) {
  index_t p = 0;
  for (; p + 16 <= kc; p += 16) {
    __m512 r[16], t[16], u[16];
#pragma GCC unroll 14
    for (int i = 0; i < MR; ++i) r[i] = _mm512_loadu_ps(a + i * rs + p);
    r[14] = r[15] = _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int i = 0; i < 16; i += 2) {
      t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
      t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    // u[4g + c], lane L: column 4L + c of rows 4g .. 4g + 3.
#pragma GCC unroll 4
    for (int g = 0; g < 16; g += 4) {
      u[g] = _mm512_shuffle_ps(t[g], t[g + 2], 0x44);
      u[g + 1] = _mm512_shuffle_ps(t[g], t[g + 2], 0xEE);
      u[g + 2] = _mm512_shuffle_ps(t[g + 1], t[g + 3], 0x44);
      u[g + 3] = _mm512_shuffle_ps(t[g + 1], t[g + 3], 0xEE);
    }
    float* o = out + p * MR;
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      const __m512 v0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44);
      const __m512 v1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xEE);
      const __m512 w0 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44);
      const __m512 w1 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xEE);
      constexpr __mmask16 rows = (1u << MR) - 1;
      _mm512_mask_storeu_ps(o + (0 + c) * MR, rows, _mm512_shuffle_f32x4(v0, w0, 0x88));
      _mm512_mask_storeu_ps(o + (4 + c) * MR, rows, _mm512_shuffle_f32x4(v0, w0, 0xDD));
      _mm512_mask_storeu_ps(o + (8 + c) * MR, rows, _mm512_shuffle_f32x4(v1, w1, 0x88));
      _mm512_mask_storeu_ps(o + (12 + c) * MR, rows, _mm512_shuffle_f32x4(v1, w1, 0xDD));
    }
  }
  for (; p < kc; ++p)
    for (int i = 0; i < MR; ++i) out[p * MR + i] = a[i * rs + p];
}

}  // namespace kiln::detail
