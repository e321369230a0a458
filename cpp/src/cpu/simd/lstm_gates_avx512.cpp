// AVX-512 LSTM gate passes: lstm_gates_math.hpp over simd/vec_avx512.hpp
// (16 floats in a zmm register).
//
// Compiled with -mavx512f (CMakeLists.txt) and called only when CPUID reports AVX-512
// (dispatch.cpp). A row's last n < 16 units use masked loads and stores, so every unit
// runs the same vector arithmetic wherever a span starts or ends.
// GCC 12's AVX-512 headers start several intrinsics from _mm512_undefined_ps(), which
// -Wmaybe-uninitialized reports once they are inlined here (a false positive).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "../lstm_gates.hpp"
#include "../lstm_gates_math.hpp"
#include "vec_avx512.hpp"

namespace kiln::detail {

void lstm_gates_forward_avx512(index_t n, const LstmForwardSpan& span) {
  gate_math::forward<gate_math::VecOps<avx512::Vec>>(n, span);
}

void lstm_gates_backward_avx512(index_t n, index_t H, const LstmBackwardSpan& span) {
  gate_math::backward<gate_math::VecOps<avx512::Vec>>(n, H, span);
}

}  // namespace kiln::detail
