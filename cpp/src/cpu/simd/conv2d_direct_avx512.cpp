// AVX-512 row kernels of the direct convolution (conv2d_direct.hpp, simd/conv2d_direct_impl.hpp):
// 4 filters x 96 pixels in 24 zmm accumulators (per tap 6 loads of x, 4 broadcasts of w),
// or 1 filter x 128 pixels in 8; the weight gradient's dot products 2 filters x 9 taps (or
// 1 x 18) at a time.
//
// Compiled with -mavx512f (CMakeLists.txt) and called only when CPUID reports it (dispatch.cpp).
#include "../conv2d_direct.hpp"
#include "conv2d_direct_impl.hpp"
#include "vec_avx512.hpp"

namespace kiln::detail {

void conv2d_direct_row_avx512(index_t taps, const index_t* offsets, const float* x, const float* w4,
                              index_t width, float* out, index_t ld) {
  conv_direct::row<avx512::Vec, 4, 6>(taps, offsets, x, w4, width, out, ld);
}

void conv2d_direct_row1_avx512(index_t taps, const index_t* offsets, const float* x, const float* w,
                               index_t width, float* out, index_t ld) {
  conv_direct::row<avx512::Vec, 1, 8>(taps, offsets, x, w, width, out, ld);
}

void conv2d_direct_dot_avx512(index_t taps, const index_t* offsets, const float* x, const float* dy,
                            index_t ld, index_t width, float* dw) {
  conv_direct::row_dot<avx512::Vec, 2, 9>(taps, offsets, x, dy, ld, width, dw);
}

void conv2d_direct_dot1_avx512(index_t taps, const index_t* offsets, const float* x, const float* dy,
                             index_t ld, index_t width, float* dw) {
  conv_direct::row_dot<avx512::Vec, 1, 18>(taps, offsets, x, dy, ld, width, dw);
}

}  // namespace kiln::detail
