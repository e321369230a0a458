// kiln CUDA (private): the bias gradients of the GEMM-shaped layers, as reductions.
//
//   column_sums:  out[j] = sum over i < rows of a[i * ld + j]          j < cols
//                 (linear_backward's and the LSTM's db: dz is (rows, cols))
//   channel_sums: out[c] = sum over b < batch, q < plane of a[(b * channels + c) * plane + q]
//                 (conv2d_backward's db: dy is NCHW)
//
// Each sum has a fixed order for given sizes (per-thread partial sums combined by warp
// shuffles in a fixed tree), so results repeat bit for bit. Launch errors are returned.
#pragma once

#include "cuda_compat.hpp"
#include "kiln/common.hpp"

namespace kiln::cuda::detail {

cudaError_t column_sums(index_t rows, index_t cols, const float* a, index_t ld, float* out,
                        cudaStream_t stream);

cudaError_t channel_sums(index_t batch, index_t channels, index_t plane, const float* a, float* out,
                         cudaStream_t stream);

}  // namespace kiln::cuda::detail
