// kiln CUDA: scaled-dot-product attention, forward and backward (kiln/attention.hpp).
//
//   q (BH, Tq, D), k (BH, Tk, D), v (BH, Tk, Dv), out and dout (BH, Tq, Dv), logsumexp (BH, Tq);
//   dq, dk, dv as q, k, v. Device pointers, C-contiguous float32, asynchronous on `stream`.
//
// The CPU's params, semantics and checks (std::invalid_argument before launching); D and Dv
// are at most kCudaAttentionMaxDim (the tiles live in static-sized shared memory). No
// Tq x Tk buffer: the forward keeps the running softmax in registers, the backward
// recomputes each tile's probabilities from logsumexp. Results are within rounding of the
// CPU's (the sums run in another order) and deterministic (no atomics).
#pragma once

#include "kiln/attention.hpp"
#include "kiln/cuda/runtime.hpp"

namespace kiln::cuda {

constexpr index_t kCudaAttentionMaxDim = 128;

void attention_forward(const AttentionParams& p, const float* q, const float* k, const float* v,
                       float* out, float* logsumexp, cudaStream_t stream = 0);

void attention_backward(const AttentionParams& p, const float* dout, const float* q,
                        const float* k, const float* v, const float* out,
                        const float* logsumexp, float* dq, float* dk, float* dv,
                        cudaStream_t stream = 0);

}  // namespace kiln::cuda
