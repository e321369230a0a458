// kiln CUDA: 2-D adaptive average and max pooling on the device (kiln/adaptive_pool2d.hpp).
//
//   x, dx (N, C, H, W); y, dy, indices (N, C, OH, OW).
//
// The same params, checks and results (within float32 rounding of the sums; the max and
// its indices exactly) as the CPU kernels, asynchronous on `stream`:
// - forward: small windows (global pooling's excepted) one thread per output, neighbouring
//   threads reading neighbouring columns; large windows one warp per output, the lanes
//   striding over the window row by row (coalesced), combined with warp shuffles;
// - average backward: one thread per input element gathering the shares of the windows
//   that hold it (no atomics, a fixed order);
// - max backward: max_pool2d_backward_scatter (the indices checked on the device first).
#pragma once

#include <cstdint>

#include "kiln/adaptive_pool2d.hpp"
#include "kiln/common.hpp"
#include "kiln/cuda/runtime.hpp"

namespace kiln::cuda {

void adaptive_avg_pool2d_forward(const AdaptivePool2dParams& p, const float* x, float* y,
                                 cudaStream_t stream = 0);

void adaptive_avg_pool2d_backward(const AdaptivePool2dParams& p, const float* dy, float* dx,
                                  cudaStream_t stream = 0);

// indices may be null (not returned).
void adaptive_max_pool2d_forward(const AdaptivePool2dParams& p, const float* x, float* y,
                                 std::int64_t* indices, cudaStream_t stream = 0);

void adaptive_max_pool2d_backward(const AdaptivePool2dParams& p, const float* dy,
                                  const std::int64_t* indices, float* dx, cudaStream_t stream = 0);

}  // namespace kiln::cuda
