// kiln CUDA: 2-D max and average pooling on the device, NCHW (kiln/pool2d.hpp).
//
//   x, dx: (N, C, H, W); y, dy, indices: (N, C, OH, OW), OH and OW as Pool2dParams says.
//
// The same params, checks (std::invalid_argument, before launching) and results as the
// CPU kernels, asynchronous on `stream`:
// - max_pool2d_forward, avg_pool2d_forward and avg_pool2d_backward are bit-identical to
//   the CPU (each element takes the CPU's operations in the CPU's order);
// - max_pool2d_backward checks every index on the device first (the host reads the first
//   bad one back, so that call synchronises), then zeroes dx and scatters dy with
//   atomicAdd: where windows overlap and two outputs pick one input, their sum's order
//   (and so its last bit) may vary from run to run.
// A failed launch is a std::runtime_error naming the kernel and the sizes.
#pragma once

#include <cstdint>

#include "kiln/common.hpp"
#include "kiln/cuda/runtime.hpp"
#include "kiln/pool2d.hpp"

namespace kiln::cuda {

// indices may be null (not returned).
void max_pool2d_forward(const Pool2dParams& p, const float* x, float* y, std::int64_t* indices,
                        cudaStream_t stream = 0);

void max_pool2d_backward(const Pool2dParams& p, const float* dy, const std::int64_t* indices,
                         float* dx, cudaStream_t stream = 0);

// For callers that hold only the sizes: dy and indices (planes, out_size), dx (planes, in_size).
void max_pool2d_backward_scatter(index_t planes, index_t in_size, index_t out_size,
                                 const float* dy, const std::int64_t* indices, float* dx,
                                 cudaStream_t stream = 0);

void avg_pool2d_forward(const Pool2dParams& p, const float* x, float* y, bool count_include_pad,
                        index_t divisor_override, cudaStream_t stream = 0);

void avg_pool2d_backward(const Pool2dParams& p, const float* dy, float* dx, bool count_include_pad,
                         index_t divisor_override, cudaStream_t stream = 0);

}  // namespace kiln::cuda
