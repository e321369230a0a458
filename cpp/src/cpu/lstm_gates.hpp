// Internal: the fused LSTM gate passes, one per instruction set (portable, AVX2,
// AVX-512; dispatch.cpp picks one). Each covers n consecutive hidden units of one batch
// row; the gates of a row are four chunks (i, f, g, o) a chunk stride apart (H in the
// (B, 4H) layout, 16 in the cell GEMM's interleaved panels), and every span pointer below
// points at the span's first unit (the i chunk, for the gates).
//
// The arithmetic of a unit does not depend on where a span starts, as long as spans
// start at multiples of 16 units: results are the same for any split into threads.
#pragma once

#include "kiln/common.hpp"

namespace kiln::detail {

// Forward, run by the GEMM's epilogue on rows it has just finished: pre-activations
// pre + addend (addend null: none) -> activated i, f, g, o into gates (null: not kept);
// c_out = f * c_prev + i * g; h_out = o * tanh(c_out). c_out may equal c_prev, and gates
// may equal addend (each vector is loaded before it is stored).
struct LstmForwardSpan {
  const float* pre;
  index_t pre_chunk;
  const float* addend;
  index_t addend_chunk;
  float* gates;
  index_t gates_chunk;
  const float* c_prev;
  float* c_out;
  float* h_out;
};

// Backward, with dh = dh_a + dh_b the gradient of h_new and dc the total gradient of c_new
// (dc_next + dh * o * (1 - tanh(c_new)^2)): the pre-activation gradients d_pre (laid out as
// gates) and dc_prev = dc * f. dc_prev may equal dc_next.
struct LstmBackwardSpan {
  const float* gates;  // activated i, f, g, o
  const float* c_prev;
  const float* c_new;
  const float* dh_a;
  const float* dh_b;
  const float* dc_next;
  float* d_pre;
  float* dc_prev;
};

using LstmGatesForward = void (*)(index_t n, const LstmForwardSpan& span);
using LstmGatesBackward = void (*)(index_t n, index_t H, const LstmBackwardSpan& span);

void lstm_gates_forward_portable(index_t n, const LstmForwardSpan& span);
void lstm_gates_backward_portable(index_t n, index_t H, const LstmBackwardSpan& span);
void lstm_gates_forward_avx2(index_t n, const LstmForwardSpan& span);
void lstm_gates_backward_avx2(index_t n, index_t H, const LstmBackwardSpan& span);
void lstm_gates_forward_avx512(index_t n, const LstmForwardSpan& span);
void lstm_gates_backward_avx512(index_t n, index_t H, const LstmBackwardSpan& span);

}  // namespace kiln::detail
