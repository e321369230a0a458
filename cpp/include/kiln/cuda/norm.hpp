// kiln CUDA: layer norm and batch norm on the device (kiln/norm.hpp: shapes and formulas).
//
//   layer norm:  x, y, dy, dx (rows, cols); mean, rstd (rows,); weight, bias, dweight, dbias (cols,)
//   batch norm:  x, y, dy, dx (outer, channels, inner); every per-channel vector (channels,)
//
// The CPU's params, checks (std::invalid_argument, before launching) and null conventions,
// asynchronous on `stream`. Every sum has an order fixed by the sizes alone (per-block
// partials added in order by a second kernel, no atomics), so results repeat bit for bit;
// they differ from the CPU's by the rounding of a different summation order. A failed
// launch is a std::runtime_error naming the kernel and its sizes.
#pragma once

#include "kiln/common.hpp"
#include "kiln/cuda/runtime.hpp"
#include "kiln/norm.hpp"

namespace kiln::cuda {

void layer_norm_forward(const LayerNormParams& p, const float* x, const float* weight, const float* bias,
                        float* y, float* mean, float* rstd, cudaStream_t stream = 0);

void layer_norm_backward(const LayerNormParams& p, const float* dy, const float* x, const float* mean,
                         const float* rstd, const float* weight, float* dx, float* dweight, float* dbias,
                         cudaStream_t stream = 0);

void batch_norm_forward(const BatchNormParams& p, const float* x, const float* weight, const float* bias,
                        const float* running_mean, const float* running_var, bool training, float* y,
                        float* save_mean, float* save_invstd, float* batch_var, cudaStream_t stream = 0);

void batch_norm_backward(const BatchNormParams& p, const float* dy, const float* x, const float* save_mean,
                         const float* save_invstd, const float* weight, bool training, float* dx,
                         float* dweight, float* dbias, cudaStream_t stream = 0);

}  // namespace kiln::cuda
