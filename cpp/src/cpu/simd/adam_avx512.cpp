// The Adam update (../adam_kernel.hpp) for AVX-512: simd/adam_impl.hpp over
// simd/vec_avx512.hpp. Compiled with -mavx512f (CMakeLists.txt), called only when CPUID
// reports AVX-512 (dispatch.cpp).

// GCC 12 warns inside its own intrinsics (_mm512_sqrt_ps, _mm512_max_ps), whose
// pass-through operand is _mm512_undefined_ps() by design.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "adam_impl.hpp"
#include "vec_avx512.hpp"

namespace kiln::detail {

void adam_range_avx512(const AdamScalars& s, index_t n, float* param, const float* grad,
                       float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq) {
  simd::adam_range<avx512::Vec>(s, n, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq);
}

}  // namespace kiln::detail
