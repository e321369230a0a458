// kiln CUDA: matrix product with a fused epilogue, plain and batched, on the device.
//
//   C[b] = act(alpha * op(A[b]) @ op(B[b]) + beta * C[b] + bias)      for b < batch
//
//   op(A[b]) (m, k), op(B[b]) (k, n), C[b] (m, n), bias (n,) or null: the layout, strides,
//   broadcasting (batch stride 0) and checks of kiln::matmul (kiln/matmul.hpp), on device
//   pointers, asynchronous to the host on `stream`.
//
// allow_tf32: run the product on the tensor cores in TF32 (inputs rounded to 10 mantissa
// bits, float accumulation), as torch.backends.cuda.matmul.allow_tf32; off by default.
// Without it, float32 FMAs: results agree with the CPU's within float32 rounding of the
// sums (the summation order differs).
// Throws std::invalid_argument for bad params (before launching), std::runtime_error
// naming the kernel and the sizes when a launch fails.
#pragma once

#include "kiln/common.hpp"
#include "kiln/cuda/runtime.hpp"
#include "kiln/matmul.hpp"

namespace kiln::cuda {

void matmul(const MatmulParams& p, const float* a, const float* b, const float* bias, float* c,
            cudaStream_t stream = 0, bool allow_tf32 = false, float* workspace = nullptr);

// Floats of the optional `workspace` with which a product too small to fill the device but
// deep splits its reduction over k (float32 only); 0 when it would go unused. Depends on the
// current device's multiprocessor count.
index_t matmul_workspace(const MatmulParams& p);

}  // namespace kiln::cuda
