// AVX2+FMA LSTM gate passes: lstm_gates_math.hpp over simd/vec_avx2.hpp
// (8 floats in a ymm register).
//
// Compiled with -mavx2 -mfma (CMakeLists.txt) and called only when CPUID reports both
// (dispatch.cpp). A row's last n < 8 units use masked loads and stores, so every unit
// runs the same vector arithmetic wherever a span starts or ends.
#include "../lstm_gates.hpp"
#include "../lstm_gates_math.hpp"
#include "vec_avx2.hpp"

namespace kiln::detail {

void lstm_gates_forward_avx2(index_t n, const LstmForwardSpan& span) {
  gate_math::forward<gate_math::VecOps<avx2::Vec>>(n, span);
}

void lstm_gates_backward_avx2(index_t n, index_t H, const LstmBackwardSpan& span) {
  gate_math::backward<gate_math::VecOps<avx2::Vec>>(n, H, span);
}

}  // namespace kiln::detail
