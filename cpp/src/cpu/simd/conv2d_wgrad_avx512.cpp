// AVX-512 micro-kernel of the stride-1 weight gradient (conv2d_gemm.hpp,
// simd/conv2d_wgrad_impl.hpp): 9 taps (one channel of a 3x3 filter) x 32 filters in 18 zmm
// accumulators; its packing transposes 16 x 16 blocks in registers.
//
// Compiled with -mavx512f (CMakeLists.txt) and called only when CPUID reports it.
#include "../conv2d_gemm.hpp"
#include "conv2d_wgrad_impl.hpp"
#include "vec_avx512.hpp"

namespace kiln::detail {

void conv2d_wgrad_tile_avx512(index_t kc, const float* x, const index_t* offsets, const float* b, float* c,
                              index_t ldc) {
  conv_wgrad::tile<avx512::Vec, 9, 2>(kc, x, offsets, b, c, ldc);
}

namespace {

// The columns of 16 rows of 16 floats: out[j] = (r[0][j], ..., r[15][j]).
void transpose16(__m512 r[16]) {
  __m512 t[16], u[16], v[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int g = 0; g < 4; ++g) {  // rows 4g..4g+3: u[4g + m] holds column 4k + m in lane k
    u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int m = 0; m < 4; ++m) {
    v[m] = _mm512_shuffle_f32x4(u[m], u[4 + m], 0x88);
    v[4 + m] = _mm512_shuffle_f32x4(u[m], u[4 + m], 0xdd);
    v[8 + m] = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0x88);
    v[12 + m] = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0xdd);
  }
  for (int m = 0; m < 4; ++m) {
    r[m] = _mm512_shuffle_f32x4(v[m], v[8 + m], 0x88);
    r[8 + m] = _mm512_shuffle_f32x4(v[m], v[8 + m], 0xdd);
    r[4 + m] = _mm512_shuffle_f32x4(v[4 + m], v[12 + m], 0x88);
    r[12 + m] = _mm512_shuffle_f32x4(v[4 + m], v[12 + m], 0xdd);
  }
}

}  // namespace

void conv2d_wgrad_pack_avx512(const float* src, index_t ld, index_t rows, index_t cols, float* dst, index_t nr) {
  for (index_t r0 = 0; r0 < nr; r0 += 16)
    for (index_t c0 = 0; c0 < cols; c0 += 16) {
      const index_t n = cols - c0 < 16 ? cols - c0 : 16;
      const __mmask16 mask = static_cast<__mmask16>((1u << n) - 1u);
      __m512 r[16];
      for (int i = 0; i < 16; ++i) {
        if (r0 + i >= rows) {
          r[i] = _mm512_setzero_ps();
          continue;
        }
        const float* row = src + (r0 + i) * ld + c0;
        // dy's rows are read a grid row at a time, 32+ streams: too many for the prefetchers.
        _mm_prefetch(reinterpret_cast<const char*>(row + 64), _MM_HINT_T0);
        r[i] = _mm512_maskz_loadu_ps(mask, row);
      }
      transpose16(r);
      for (index_t j = 0; j < n; ++j) _mm512_storeu_ps(dst + (c0 + j) * nr + r0, r[j]);
    }
}

}  // namespace kiln::detail
