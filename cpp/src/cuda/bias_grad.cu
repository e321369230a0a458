// kiln CUDA: the bias-gradient reductions (bias_grad.hpp).
//
// column_sums: a block of 32 x 8 threads owns 32 columns; thread (x, y) sums column x over
// the rows y, y + 8, ... (a warp reads 32 neighbouring floats of a row: coalesced); then
// the 8 partial sums of each column meet in one warp segment of 8 lanes and are added by
// three __shfl_xor_sync steps.
// channel_sums: a block per channel; its threads stride over the channel's batch x plane
// elements (each image's plane is contiguous), then a warp-shuffle tree per warp and one
// across the warps' results.
#include "bias_grad.hpp"

#include "launch.hpp"

namespace kiln::cuda::detail {
namespace {

constexpr int kColumns = 32, kRowPhases = 8;

__global__ void __launch_bounds__(kColumns * kRowPhases)
    column_sums_kernel(index_t rows, index_t cols, const float* a, index_t ld, float* out) {
  KILN_SHARED(float, partial, [kRowPhases][kColumns + 1]);
  const int x = static_cast<int>(threadIdx.x), y = static_cast<int>(threadIdx.y);
  const index_t j = static_cast<index_t>(blockIdx.x) * kColumns + x;
  float sum = 0.0f;
  if (j < cols)
    for (index_t i = y; i < rows; i += kRowPhases) sum += a[i * ld + j];
  partial[y][x] = sum;
  __syncthreads();
  // Warp y adds up columns 4y .. 4y + 3: lane l holds partial l % 8 of column 4y + l / 8.
  const int lane = x;
  const int column = 4 * y + lane / 8;
  float v = partial[lane % 8][column];
  v += __shfl_xor_sync(0xffffffffu, v, 4, 8);
  v += __shfl_xor_sync(0xffffffffu, v, 2, 8);
  v += __shfl_xor_sync(0xffffffffu, v, 1, 8);
  const index_t jj = static_cast<index_t>(blockIdx.x) * kColumns + column;
  if (lane % 8 == 0 && jj < cols) out[jj] = v;
}

constexpr int kChannelThreads = 256;

__global__ void __launch_bounds__(kChannelThreads)
    channel_sums_kernel(index_t batch, index_t channels, index_t plane, const float* a, float* out) {
  KILN_SHARED(float, warp_sums, [kChannelThreads / 32]);
  const index_t c = blockIdx.x;
  const int t = static_cast<int>(threadIdx.x);
  float sum = 0.0f;
  for (index_t b = 0; b < batch; ++b) {
    const float* p = a + (b * channels + c) * plane;
    for (index_t q = t; q < plane; q += kChannelThreads) sum += p[q];
  }
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  if (t % 32 == 0) warp_sums[t / 32] = sum;
  __syncthreads();
  if (t < 32) {
    float v = t < kChannelThreads / 32 ? warp_sums[t] : 0.0f;
    for (int offset = 4; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
    if (t == 0) out[c] = v;
  }
}

}  // namespace

cudaError_t column_sums(index_t rows, index_t cols, const float* a, index_t ld, float* out,
                        cudaStream_t stream) {
  if (cols == 0) return cudaSuccess;
  if (rows == 0) return cudaMemsetAsync(out, 0, cols * sizeof(float), stream);
  return launch(column_sums_kernel, dim3(static_cast<unsigned>((cols + kColumns - 1) / kColumns)),
                dim3(kColumns, kRowPhases), 0, stream, rows, cols, a, ld, out);
}

cudaError_t channel_sums(index_t batch, index_t channels, index_t plane, const float* a, float* out,
                         cudaStream_t stream) {
  if (channels == 0) return cudaSuccess;
  if (batch == 0 || plane == 0) return cudaMemsetAsync(out, 0, channels * sizeof(float), stream);
  return launch(channel_sums_kernel, dim3(static_cast<unsigned>(channels)), dim3(kChannelThreads), 0,
                stream, batch, channels, plane, a, out);
}

}  // namespace kiln::cuda::detail
