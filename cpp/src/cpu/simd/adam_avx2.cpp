// The Adam update (../adam_kernel.hpp) for AVX2+FMA: simd/adam_impl.hpp over
// simd/vec_avx2.hpp. Compiled with -mavx2 -mfma (CMakeLists.txt), called only when CPUID
// reports both (dispatch.cpp).
#include "adam_impl.hpp"
#include "vec_avx2.hpp"

namespace kiln::detail {

void adam_range_avx2(const AdamScalars& s, index_t n, float* param, const float* grad,
                     float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq) {
  simd::adam_range<avx2::Vec>(s, n, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq);
}

}  // namespace kiln::detail
