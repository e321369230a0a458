// AVX-512 GRU gate passes: gru_gates_math.hpp over simd/vec_avx512.hpp (16 floats a zmm).
// Compiled with -mavx512f (CMakeLists.txt), called only when CPUID reports AVX-512.
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized once inlined (see lstm_gates_avx512.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "../gru_gates.hpp"
#include "../gru_gates_math.hpp"
#include "vec_avx512.hpp"

namespace kiln::detail {

void gru_gates_forward_avx512(index_t n, index_t H, const GruForwardSpan& span) {
  gru_math::forward<gate_math::VecOps<avx512::Vec>>(n, H, span);
}

void gru_gates_backward_avx512(index_t n, index_t H, const GruBackwardSpan& span) {
  gru_math::backward<gate_math::VecOps<avx512::Vec>>(n, H, span);
}

}  // namespace kiln::detail
