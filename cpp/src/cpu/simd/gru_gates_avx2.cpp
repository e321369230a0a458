// AVX2+FMA GRU gate passes: gru_gates_math.hpp over simd/vec_avx2.hpp (8 floats a ymm).
// Compiled with -mavx2 -mfma (CMakeLists.txt), called only when CPUID reports both.
#include "../gru_gates.hpp"
#include "../gru_gates_math.hpp"
#include "vec_avx2.hpp"

namespace kiln::detail {

void gru_gates_forward_avx2(index_t n, index_t H, const GruForwardSpan& span) {
  gru_math::forward<gate_math::VecOps<avx2::Vec>>(n, H, span);
}

void gru_gates_backward_avx2(index_t n, index_t H, const GruBackwardSpan& span) {
  gru_math::backward<gate_math::VecOps<avx2::Vec>>(n, H, span);
}

}  // namespace kiln::detail
