// kiln CUDA: 2-D transposed convolution on the device (kiln/conv_transpose2d.hpp).
//
//   x, dx (N, Cin, H, W); w, dw (Cin, Cout/groups, R, S); bias, db (Cout,) or null;
//   y, dy (N, Cout, OH, OW).
//
// The same params, checks and semantics as the CPU kernels, asynchronous on `stream`, on
// conv2d's implicit GEMMs (kiln/cuda/conv2d.hpp) with the params of p.as_conv2d(): the
// forward is that conv2d's input-gradient GEMM (then the bias, one coalesced pass), the
// input gradient its forward GEMM, the weight gradient its weight-gradient GEMM; db sums dy
// per channel (warp shuffles, a fixed order). Throws std::invalid_argument for bad params
// (before launching), std::runtime_error naming the kernel when a launch fails.
#pragma once

#include "kiln/common.hpp"
#include "kiln/conv_transpose2d.hpp"
#include "kiln/cuda/runtime.hpp"

namespace kiln::cuda {

void conv_transpose2d_forward(const ConvTranspose2dParams& p, const float* x, const float* w,
                              const float* bias, float* y, cudaStream_t stream = 0);

void conv_transpose2d_backward(const ConvTranspose2dParams& p, const float* x, const float* w,
                               const float* dy, float* dx, float* dw, float* db,
                               cudaStream_t stream = 0);

}  // namespace kiln::cuda
