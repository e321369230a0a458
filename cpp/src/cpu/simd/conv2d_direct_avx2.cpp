// AVX2+FMA row kernels of the direct convolution (conv2d_direct.hpp, simd/conv2d_direct_impl.hpp):
// 4 filters x 24 pixels in 12 ymm accumulators (per tap 3 loads of x, 4 broadcasts of w),
// or 1 filter x 64 pixels in 8; the weight gradient's dot products 2 filters x 6 taps (or 1 x 12)
// at a time.
//
// Compiled with -mavx2 -mfma (CMakeLists.txt) and called only when CPUID reports both
// (dispatch.cpp).
#include "../conv2d_direct.hpp"
#include "conv2d_direct_impl.hpp"
#include "vec_avx2.hpp"

namespace kiln::detail {

void conv2d_direct_row_avx2(index_t taps, const index_t* offsets, const float* x, const float* w4,
                            index_t width, float* out, index_t ld) {
  conv_direct::row<avx2::Vec, 4, 3>(taps, offsets, x, w4, width, out, ld);
}

void conv2d_direct_row1_avx2(index_t taps, const index_t* offsets, const float* x, const float* w,
                             index_t width, float* out, index_t ld) {
  conv_direct::row<avx2::Vec, 1, 8>(taps, offsets, x, w, width, out, ld);
}

void conv2d_direct_dot_avx2(index_t taps, const index_t* offsets, const float* x, const float* dy,
                            index_t ld, index_t width, float* dw) {
  conv_direct::row_dot<avx2::Vec, 2, 6>(taps, offsets, x, dy, ld, width, dw);
}

void conv2d_direct_dot1_avx2(index_t taps, const index_t* offsets, const float* x, const float* dy,
                             index_t ld, index_t width, float* dw) {
  conv_direct::row_dot<avx2::Vec, 1, 12>(taps, offsets, x, dy, ld, width, dw);
}

}  // namespace kiln::detail
