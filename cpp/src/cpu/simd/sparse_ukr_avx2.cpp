// The loops of sparse_matmul (../sparse_ukr.hpp) for AVX2+FMA: simd/sparse_ukr_impl.hpp over
// simd/vec_avx2.hpp. Compiled with -mavx2 -mfma (CMakeLists.txt), called only after the
// CPUID check (dispatch.cpp).
#include "sparse_ukr_impl.hpp"
#include "vec_avx2.hpp"

namespace kiln::detail {

void sparse_row_avx2(index_t terms, const std::int32_t* idx, const float* val, const float* w,
                     index_t ldw, index_t n, float* y) {
  simd::sparse_row<avx2::Vec>(terms, idx, val, w, ldw, n, y);
}

void axpy_avx2(index_t n, float a, const float* x, float* y) { simd::axpy<avx2::Vec>(n, a, x, y); }

}  // namespace kiln::detail
