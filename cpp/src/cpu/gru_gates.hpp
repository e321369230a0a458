// Internal: the fused GRU gate passes, one per instruction set (portable, AVX2, AVX-512;
// dispatch.cpp picks one). Each covers n consecutive hidden units of one batch row; every
// span pointer points at the span's first unit (of the first chunk, for the gate rows).
// As with the LSTM's (lstm_gates.hpp), a unit's arithmetic does not depend on where a span
// starts, as long as spans start at multiples of 16 units.
#pragma once

#include "kiln/common.hpp"

namespace kiln::detail {

// Forward: gates holds xg_r, xg_z, xg_n (the input projection, chunks of H) and hg holds
// hg_r, hg_z, hg_n (the recurrent one); gates becomes r, z, n, hn (4 chunks, in place);
// h_out = (1 - z) n + z h_prev.
struct GruForwardSpan {
  float* gates;
  const float* hg;
  const float* h_prev;
  float* h_out;
};

// Backward, with dh = dh_a + dh_b the gradient of h_out: d_x (3 chunks: the input
// projection's gradient), d_h (3 chunks: the recurrent projection's) and dh_prev = dh z
// (the direct part; the GEMM with W_hh adds the rest).
struct GruBackwardSpan {
  const float* gates;  // r, z, n, hn
  const float* h_prev;
  const float* dh_a;
  const float* dh_b;
  float* d_x;
  float* d_h;
  float* dh_prev;
};

using GruGatesForward = void (*)(index_t n, index_t H, const GruForwardSpan& span);
using GruGatesBackward = void (*)(index_t n, index_t H, const GruBackwardSpan& span);

void gru_gates_forward_portable(index_t n, index_t H, const GruForwardSpan& span);
void gru_gates_backward_portable(index_t n, index_t H, const GruBackwardSpan& span);
void gru_gates_forward_avx2(index_t n, index_t H, const GruForwardSpan& span);
void gru_gates_backward_avx2(index_t n, index_t H, const GruBackwardSpan& span);
void gru_gates_forward_avx512(index_t n, index_t H, const GruForwardSpan& span);
void gru_gates_backward_avx512(index_t n, index_t H, const GruBackwardSpan& span);

}  // namespace kiln::detail
