// AVX2+FMA micro-kernel of the stride-1 weight gradient (conv2d_gemm.hpp,
// simd/conv2d_wgrad_impl.hpp): 6 taps x 16 filters in 12 ymm accumulators; its packing transposes
// 8 x 8 blocks in registers.
//
// Compiled with -mavx2 -mfma (CMakeLists.txt) and called only when CPUID reports both.
#include "../conv2d_gemm.hpp"
#include "conv2d_wgrad_impl.hpp"
#include "vec_avx2.hpp"

namespace kiln::detail {

void conv2d_wgrad_tile_avx2(index_t kc, const float* x, const index_t* offsets, const float* b, float* c,
                            index_t ldc) {
  conv_wgrad::tile<avx2::Vec, 6, 2>(kc, x, offsets, b, c, ldc);
}

void conv2d_wgrad_pack_avx2(const float* src, index_t ld, index_t rows, index_t cols, float* dst, index_t nr) {
  for (index_t r0 = 0; r0 < nr; r0 += 8)
    for (index_t c0 = 0; c0 < cols; c0 += 8) {
      const index_t n = cols - c0 < 8 ? cols - c0 : 8;
      const __m256i mask = avx2::Vec::tail_mask(n);
      __m256 r[8], t[8], u[8];
      for (int i = 0; i < 8; ++i) {
        if (r0 + i >= rows) {
          r[i] = _mm256_setzero_ps();
          continue;
        }
        const float* row = src + (r0 + i) * ld + c0;
        // dy's rows are read a grid row at a time, 32+ streams: too many for the prefetchers.
        _mm_prefetch(reinterpret_cast<const char*>(row + 64), _MM_HINT_T0);
        r[i] = _mm256_maskload_ps(row, mask);
      }
      for (int i = 0; i < 4; ++i) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
      }
      for (int g = 0; g < 2; ++g) {  // rows 4g..4g+3: u[4g + m] holds column 4k + m in lane k
        u[4 * g + 0] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(3, 2, 3, 2));
      }
      for (int m = 0; m < 4; ++m) {
        r[m] = _mm256_permute2f128_ps(u[m], u[4 + m], 0x20);
        r[4 + m] = _mm256_permute2f128_ps(u[m], u[4 + m], 0x31);
      }
      for (index_t j = 0; j < n; ++j) _mm256_storeu_ps(dst + (c0 + j) * nr + r0, r[j]);
    }
}

}  // namespace kiln::detail
