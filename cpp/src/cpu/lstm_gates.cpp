// The portable LSTM gate passes: lstm_gates_math.hpp over a "vector" of one float,
// for CPUs without AVX2 and for KILN_CPU=portable.
#include "lstm_gates.hpp"

#include "gate_scalar.hpp"
#include "lstm_gates_math.hpp"

namespace kiln::detail {

void lstm_gates_forward_portable(index_t n, const LstmForwardSpan& span) {
  gate_math::forward<Scalar>(n, span);
}

void lstm_gates_backward_portable(index_t n, index_t H, const LstmBackwardSpan& span) {
  gate_math::backward<Scalar>(n, H, span);
}

}  // namespace kiln::detail
