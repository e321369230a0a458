// kiln CUDA: 2-D convolution (torch.nn.functional.conv2d), forward and backward, on the device.
//
//   x (N, C, H, W), w (K, C/groups, R, S), bias (K,) or null, y and dy (N, K, OH, OW)
//   dx (N, C, H, W), dw (K, C/groups, R, S), db (K,): each computed and overwritten unless null
//
// kiln::conv2d_forward / conv2d_backward (kiln/conv2d.hpp): the same params, checks and
// semantics (strides, padding, dilation, groups; NCHW, dense), on device pointers,
// asynchronous on `stream`. Each is an implicit GEMM on the tiled engine, one GEMM per
// group (blockIdx.z), the im2col matrix never materialised:
//   y  (K/g rows, N*OH*OW cols) = w (K/g, C/g*R*S) @ im2col(x)
//   dx (C/g rows, N*H*W cols)   = w^T gathered @ dy gathered at the output positions
//                                 each input position reached (the transposed convolution)
//   dw (K/g rows, C/g*R*S cols) = dy (K/g, N*OH*OW) @ im2col(x)^T
// db sums dy over N, OH and OW with warp shuffles. Results agree with the CPU within
// float32 rounding of the sums. Throws std::invalid_argument for bad parameters (before
// launching), std::runtime_error naming the kernel and the sizes when a launch fails.
#pragma once

#include "kiln/common.hpp"
#include "kiln/conv2d.hpp"
#include "kiln/cuda/runtime.hpp"

namespace kiln::cuda {

void conv2d_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                    float* y, cudaStream_t stream = 0);

void conv2d_backward(const Conv2dParams& p, const float* x, const float* w, const float* dy,
                     float* dx, float* dw, float* db, cudaStream_t stream = 0,
                     float* workspace = nullptr);

// Floats of the optional `workspace` that lets dw split its reduction over N*OH*OW across
// the device when the filters are too few to fill it (0: no use for one), on the current
// device. Throws std::invalid_argument for bad params.
index_t conv2d_backward_workspace(const Conv2dParams& p);

}  // namespace kiln::cuda
