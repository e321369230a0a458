// kiln CUDA: one step of Adam / AdamW over a flat parameter buffer on the device.
//
//   param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq: (n,) each, distinct device buffers
//
// The same update, parameters and checks as kiln::adam_step (kiln/adam.hpp), in one
// launch on `stream`, asynchronous to the host. Results are bit-identical to the CPU's
// vector kernels (AVX2 / AVX-512: the same fused multiply-adds, correctly rounded
// division and square root); the portable CPU loop, which fuses nothing, differs from
// both in the last bits.
// Throws std::invalid_argument for bad parameters (before launching), std::runtime_error
// naming the kernel and n when the launch fails.
#pragma once

#include "kiln/adam.hpp"
#include "kiln/common.hpp"
#include "kiln/cuda/runtime.hpp"

namespace kiln::cuda {

void adam_step(const AdamParams& p, index_t n, float* param, const float* grad, float* exp_avg,
               float* exp_avg_sq, float* max_exp_avg_sq, cudaStream_t stream = 0);

}  // namespace kiln::cuda
