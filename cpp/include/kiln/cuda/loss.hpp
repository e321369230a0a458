// kiln CUDA: the losses with mean reduction on the device (kiln/loss.hpp).
//
//   softmax_cross_entropy:       logits (N, C), target (N,) int64, grad (N, C) or null
//   softmax_cross_entropy_probs: logits (N, C), target (N, C) float, grad (N, C) or null
//   bce_with_logits:             logits, target, grad (rows, cols), pos_weight (cols,) or null
//   mse:                         pred, target, grad (n,)
//   loss: one float on the device, the mean; written by the last kernel of the call, so the
//   whole loss stays on the device (no host round trip) until someone reads it.
//
// The same params and checks as the CPU's (std::invalid_argument before launching). The
// class-index targets are checked on the device (each in [0, C) or == ignore_index), the
// first bad one read back and named as the CPU names it: that call synchronises once.
// One warp per row (cross-entropy) or a grid-stride loop (BCE, MSE) sums its terms in
// double; blocks write partial sums that a last one-block kernel adds in a fixed order, so
// results are deterministic, and equal the CPU's within float32 rounding of the per-row
// terms (the CPU adds in a different order).
#pragma once

#include <cstdint>

#include "kiln/common.hpp"
#include "kiln/cuda/runtime.hpp"
#include "kiln/loss.hpp"

namespace kiln::cuda {

void softmax_cross_entropy(const CrossEntropyParams& p, const float* logits,
                           const std::int64_t* target, float* loss, float* grad,
                           cudaStream_t stream = 0);

void softmax_cross_entropy_probs(const CrossEntropyParams& p, const float* logits,
                                 const float* target, float* loss, float* grad,
                                 cudaStream_t stream = 0);

void bce_with_logits(index_t rows, index_t cols, const float* logits, const float* target,
                     const float* pos_weight, float grad_scale, float* loss, float* grad,
                     cudaStream_t stream = 0);

void mse(index_t n, const float* pred, const float* target, float grad_scale, float* loss,
         float* grad, cudaStream_t stream = 0);

}  // namespace kiln::cuda
