// The loops of sparse_matmul (../sparse_ukr.hpp) for AVX-512: simd/sparse_ukr_impl.hpp over
// simd/vec_avx512.hpp. Compiled with -mavx512f (CMakeLists.txt), called only after the
// CPUID check (dispatch.cpp).
#include "sparse_ukr_impl.hpp"
#include "vec_avx512.hpp"

namespace kiln::detail {

void sparse_row_avx512(index_t terms, const std::int32_t* idx, const float* val, const float* w,
                     index_t ldw, index_t n, float* y) {
  simd::sparse_row<avx512::Vec>(terms, idx, val, w, ldw, n, y);
}

void axpy_avx512(index_t n, float a, const float* x, float* y) { simd::axpy<avx512::Vec>(n, a, x, y); }

}  // namespace kiln::detail
