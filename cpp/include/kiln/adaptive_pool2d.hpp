// kiln: 2-D adaptive average and max pooling (torch.nn.functional.adaptive_avg_pool2d /
// adaptive_max_pool2d); global pooling is out_h = out_w = 1.
//
//   x  is (N, C, H, W), y is (N, C, OH, OW), each plane (n, c) pooled on its own.
//
//   output (i, j) pools input rows [floor(i*H/OH), ceil((i+1)*H/OH)) and columns
//   [floor(j*W/OW), ceil((j+1)*W/OW)): never empty (H, W >= 1), overlapping when OH does
//   not divide H. Input row h lies in the windows of outputs [floor(h*OH/H), ceil((h+1)*OH/H)).
//
// All tensors are dense and C-contiguous.
#pragma once

#include <cstdint>

#include "kiln/common.hpp"

namespace kiln {

struct AdaptivePool2dParams {
  index_t n = 0, c = 0, h = 0, w = 0;
  index_t out_h = 1, out_w = 1;
};

// Throws std::invalid_argument unless sizes are >= 0, H, W, OH, OW >= 1 and each tensor
// at most kMaxElements. Every kernel below checks this itself.
void adaptive_pool2d_check(const AdaptivePool2dParams& p);

// The first input row (or column) of output i's window along an axis of `in` inputs and
// `out` outputs, and one past its last. 64-bit products: i * in fits (both <= kMaxElements).
inline index_t adaptive_start(index_t i, index_t in, index_t out) { return (i * in) / out; }
inline index_t adaptive_end(index_t i, index_t in, index_t out) { return ((i + 1) * in + out - 1) / out; }

// y = the mean of each window.
void adaptive_avg_pool2d_forward(const AdaptivePool2dParams& p, const float* x, float* y);

// dx (N, C, H, W) = the gradient of adaptive_avg_pool2d_forward given dy (N, C, OH, OW).
void adaptive_avg_pool2d_backward(const AdaptivePool2dParams& p, const float* dy, float* dx);

// y = the max of each window; indices (N, C, OH, OW), when not null, its position h * W + w
// in the plane: the first maximum, or the last NaN (NaN propagates), as torch.
void adaptive_max_pool2d_forward(const AdaptivePool2dParams& p, const float* x, float* y,
                                 std::int64_t* indices);

// dx = 0, then dx[n, c].flat[indices[n, c, i, j]] += dy[n, c, i, j] (max_pool2d's scatter,
// every index checked first).
void adaptive_max_pool2d_backward(const AdaptivePool2dParams& p, const float* dy,
                                  const std::int64_t* indices, float* dx);

}  // namespace kiln
