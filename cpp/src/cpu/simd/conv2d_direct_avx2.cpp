// AVX2+FMA row kernel of the direct convolution (conv2d_direct.hpp): 4 filters x 24
// pixels in 12 ymm accumulators, per tap 3 unaligned loads of x, 4 broadcasts of w.
//
// Compiled with -mavx2 -mfma (CMakeLists.txt) and called only when CPUID reports both
// (dispatch.cpp). Intrinsics only, nothing from the standard library.
#include <immintrin.h>

#include "../conv2d_direct.hpp"

namespace kiln::detail {
namespace {

template <int V>  // V vectors of 8 pixels
void row_tile(index_t taps, const index_t* offsets, const float* x, const float* w4, float* out,
              index_t ld) {
  __m256 acc[4][V];
  for (int f = 0; f < 4; ++f)
    for (int v = 0; v < V; ++v) acc[f][v] = _mm256_setzero_ps();
  for (index_t t = 0; t < taps; ++t) {
    const float* xt = x + offsets[t];
    __m256 xv[V];
    for (int v = 0; v < V; ++v) xv[v] = _mm256_loadu_ps(xt + 8 * v);
    for (int f = 0; f < 4; ++f) {
      const __m256 wf = _mm256_broadcast_ss(w4 + 4 * t + f);
      for (int v = 0; v < V; ++v) acc[f][v] = _mm256_fmadd_ps(wf, xv[v], acc[f][v]);
    }
  }
  for (int f = 0; f < 4; ++f)
    for (int v = 0; v < V; ++v) _mm256_storeu_ps(out + f * ld + 8 * v, acc[f][v]);
}

}  // namespace

void conv2d_direct_row_avx2(index_t taps, const index_t* offsets, const float* x,
                            const float* w4, index_t width, float* out, index_t ld) {
  index_t j = 0;
  for (; j + 24 <= width; j += 24) row_tile<3>(taps, offsets, x + j, w4, out + j, ld);
  if (width - j == 16) row_tile<2>(taps, offsets, x + j, w4, out + j, ld);
  if (width - j == 8) row_tile<1>(taps, offsets, x + j, w4, out + j, ld);
}

}  // namespace kiln::detail
