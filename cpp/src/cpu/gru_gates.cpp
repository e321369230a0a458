// The portable GRU gate passes: gru_gates_math.hpp over a "vector" of one float,
// for CPUs without AVX2 and for KILN_CPU=portable.
#include "gru_gates.hpp"

#include "gate_scalar.hpp"
#include "gru_gates_math.hpp"

namespace kiln::detail {

void gru_gates_forward_portable(index_t n, index_t H, const GruForwardSpan& span) {
  gru_math::forward<Scalar>(n, H, span);
}

void gru_gates_backward_portable(index_t n, index_t H, const GruBackwardSpan& span) {
  gru_math::backward<Scalar>(n, H, span);
}

}  // namespace kiln::detail
