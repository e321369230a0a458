// AVX2+FMA GEMM micro-kernel: a 6 x 16 tile of C in 12 ymm accumulators; and the packing
// of A's 6-row panels.
//
// Compiled with -mavx2 -mfma (CMakeLists.txt) and called only when CPUID reports
// both (dispatch.cpp). Intrinsics only, nothing from the standard library.
#include <immintrin.h>

#include "../gemm_ukr.hpp"
#include "transpose_8x8_avx.hpp"

namespace kiln::detail {
namespace {

constexpr int MR = 6;
constexpr int NR = 16;

}  // namespace

void gemm_ukr_avx2_6x16(index_t k, const float* __restrict a, const float* __restrict b,
                        float* __restrict c, index_t ldc, float alpha, float beta) {
  // The tile of C is read (beta != 0) or written only after the k loop, far beyond the
  // out-of-order window: fetch its lines now so that the misses overlap the arithmetic.
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + NR - 1), _MM_HINT_T0);
  }
  __m256 acc[MR][2];
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();

#pragma GCC unroll 4
  for (index_t p = 0; p < k; ++p) {
    const __m256 b0 = _mm256_load_ps(b);
    const __m256 b1 = _mm256_load_ps(b + 8);
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * NR), _MM_HINT_T0);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
    }
    a += MR;
    b += NR;
  }

  const __m256 va = _mm256_set1_ps(alpha);
  if (beta == 0.0f) {
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      _mm256_storeu_ps(c + i * ldc, _mm256_mul_ps(va, acc[i][0]));
      _mm256_storeu_ps(c + i * ldc + 8, _mm256_mul_ps(va, acc[i][1]));
    }
  } else {
    const __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      float* ci = c + i * ldc;
      _mm256_storeu_ps(ci, _mm256_fmadd_ps(va, acc[i][0], _mm256_mul_ps(vb, _mm256_loadu_ps(ci))));
      _mm256_storeu_ps(ci + 8,
                       _mm256_fmadd_ps(va, acc[i][1], _mm256_mul_ps(vb, _mm256_loadu_ps(ci + 8))));
    }
  }
}

// 8 columns at a time: 6 row segments (and 2 zero rows) through the 8 x 8 register transpose,
// each column's 6 floats stored as 4 + 2.
void gemm_pack_a_avx2_6(index_t kc, const float* a, index_t rs, float* out) {
  index_t p = 0;
  for (; p + 8 <= kc; p += 8) {
    __m256 r[8];
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) r[i] = _mm256_loadu_ps(a + i * rs + p);
    r[6] = r[7] = _mm256_setzero_ps();
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 s4 = _mm256_shuffle_ps(t4, r[6], 0x44), s5 = _mm256_shuffle_ps(t4, r[6], 0xEE);
    const __m256 s6 = _mm256_shuffle_ps(t5, r[6], 0x44), s7 = _mm256_shuffle_ps(t5, r[6], 0xEE);
    // Column q: rows 0-3 in the low half of s[q % 4] (q < 4) or its high half, rows 4-5 beside.
    const __m256 lo[4] = {s0, s1, s2, s3}, hi[4] = {s4, s5, s6, s7};
    float* o = out + p * MR;
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) {
      _mm_storeu_ps(o + q * MR, _mm256_castps256_ps128(lo[q]));
      _mm_storel_pi(reinterpret_cast<__m64*>(o + q * MR + 4), _mm256_castps256_ps128(hi[q]));
      _mm_storeu_ps(o + (q + 4) * MR, _mm256_extractf128_ps(lo[q], 1));
      _mm_storel_pi(reinterpret_cast<__m64*>(o + (q + 4) * MR + 4), _mm256_extractf128_ps(hi[q], 1));
    }
  }
  for (; p < kc; ++p)
    for (int i = 0; i < MR; ++i) out[p * MR + i] = a[i * rs + p];
}

namespace {

template <int NR>
void pack_b_columns(index_t kc, const float* const* columns, float* out) {
  index_t p = 0;
  for (; p + 8 <= kc; p += 8) {
#pragma GCC unroll 4
    for (int j0 = 0; j0 < NR; j0 += 8) {
      __m256 r[8];
#pragma GCC unroll 8
      for (int t = 0; t < 8; ++t) r[t] = _mm256_loadu_ps(columns[j0 + t] + p);
      simd::transpose_8x8(r);
#pragma GCC unroll 8
      for (int t = 0; t < 8; ++t) _mm256_storeu_ps(out + (p + t) * NR + j0, r[t]);
    }
  }
  for (; p < kc; ++p)
    for (int j = 0; j < NR; ++j) out[p * NR + j] = columns[j][p];
}

}  // namespace

void gemm_pack_b_columns_avx2_16(index_t kc, const float* const* columns, float* out) {
  pack_b_columns<16>(kc, columns, out);
}

void gemm_pack_b_columns_avx2_32(index_t kc, const float* const* columns, float* out) {
  pack_b_columns<32>(kc, columns, out);
}

}  // namespace kiln::detail
