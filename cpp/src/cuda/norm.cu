// kiln CUDA: layer norm and batch norm, forward and backward (kiln/cuda/norm.hpp).
//
// Layer norm is a row kernel, as softmax: a warp per row (8 per block) up to kWarpCols
// columns, a block per row beyond. A row's mean and then its squared deviations are two
// passes (the second read comes from L1/L2; no cancellation), each a warp-shuffle (or
// block) reduction, then the fused normalize + affine pass. dweight/dbias: a grid of
// (column tiles of 32) x (row splits) blocks of 32 x 8 threads, lanes along the columns
// (coalesced), each block's column sums written as one partial, and a second kernel adds
// a column's partials in split order.
// Batch norm: per-channel sums in double over (outer, inner), split over blocks: for
// inner > 1 a block of one channel walks the (outer, inner) plane with its threads along
// inner; for inner == 1 (channels-last) a block of 32 x 8 threads has its lanes along the
// channels. The statistics are shifted by the channel's first element (sum of x - K and
// of (x - K)^2: no cancellation for data far from 0). One thread per channel adds the
// partials in split order and finishes the statistics; the elementwise passes are
// grid-stride loops. Split counts depend on the sizes only.
#include "kiln/cuda/norm.hpp"

#include <algorithm>
#include <string>

#include "../cpu/check.hpp"
#include "check.hpp"
#include "device_util.cuh"
#include "launch.hpp"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr index_t kWarpCols = 1024;  // a warp per row up to here, a block per row above
constexpr int kTileRows = 8;         // the 32 x kTileRows blocks of the column sums
constexpr int kMaxSplits = 256;

// A group of threads working one row: a warp (kBlock false) or the whole block.
template <bool kBlock>
struct RowGroup {
  __device__ static int rank() { return kBlock ? static_cast<int>(threadIdx.x) : static_cast<int>(threadIdx.x & 31); }
  __device__ static int size() { return kBlock ? static_cast<int>(blockDim.x) : 32; }
  __device__ static index_t first_row() {
    return kBlock ? static_cast<index_t>(blockIdx.x) : static_cast<index_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  }
  __device__ static index_t row_stride() {
    return kBlock ? static_cast<index_t>(gridDim.x) : static_cast<index_t>(gridDim.x) * kWarps;
  }
  __device__ static float sum(float v, float* shared) { return kBlock ? detail::block_sum(v, shared) : detail::warp_sum(v); }
};

dim3 row_grid(index_t rows, index_t cols) {
  return dim3(cols > kWarpCols ? detail::grid_for(rows, 1, 32) : detail::grid_for(rows, kWarps));
}

template <bool kBlock>
__global__ void __launch_bounds__(kThreads)
    layer_norm_kernel(index_t rows, index_t cols, float inv_n, float eps, const float* __restrict__ x,
                      const float* __restrict__ w, const float* __restrict__ b, float* __restrict__ y,
                      float* __restrict__ mean, float* __restrict__ rstd) {
  using G = RowGroup<kBlock>;
  KILN_SHARED(float, shared, [32]);
  for (index_t r = G::first_row(); r < rows; r += G::row_stride()) {
    const float* xr = x + r * cols;
    float s = 0.0f;
    for (index_t k = G::rank(); k < cols; k += G::size()) s += __ldg(xr + k);
    const float m = G::sum(s, shared) * inv_n;
    float q = 0.0f;
    for (index_t k = G::rank(); k < cols; k += G::size()) {
      const float d = __ldg(xr + k) - m;
      q += d * d;
    }
    const float sd = 1.0f / sqrtf(G::sum(q, shared) * inv_n + eps);
    if (G::rank() == 0) mean[r] = m, rstd[r] = sd;
    float* yr = y + r * cols;
    for (index_t k = G::rank(); k < cols; k += G::size()) {
      float v = (__ldg(xr + k) - m) * sd;
      if (w) v = v * __ldg(w + k);
      if (b) v = v + __ldg(b + k);
      yr[k] = v;
    }
  }
}

template <bool kBlock>
__global__ void __launch_bounds__(kThreads)
    layer_norm_dx_kernel(index_t rows, index_t cols, float inv_n, const float* __restrict__ dy,
                         const float* __restrict__ x, const float* __restrict__ mean, const float* __restrict__ rstd,
                         const float* __restrict__ w, float* __restrict__ dx) {
  using G = RowGroup<kBlock>;
  KILN_SHARED(float, shared, [32]);
  for (index_t r = G::first_row(); r < rows; r += G::row_stride()) {
    const float *xr = x + r * cols, *gr = dy + r * cols;
    const float m = mean[r], sd = rstd[r];
    float sg = 0.0f, sgx = 0.0f;
    for (index_t k = G::rank(); k < cols; k += G::size()) {
      const float g = w ? __ldg(gr + k) * __ldg(w + k) : __ldg(gr + k);
      sg += g;
      sgx += g * ((__ldg(xr + k) - m) * sd);
    }
    const float g_mean = G::sum(sg, shared) * inv_n, gx_mean = G::sum(sgx, shared) * inv_n;
    float* dr = dx + r * cols;
    for (index_t k = G::rank(); k < cols; k += G::size()) {
      const float g = w ? __ldg(gr + k) * __ldg(w + k) : __ldg(gr + k);
      dr[k] = sd * (g - g_mean - (__ldg(xr + k) - m) * sd * gx_mean);
    }
  }
}

// partials[split][col] (two arrays) of sum over the split's rows of dy * xhat and of dy.
__global__ void __launch_bounds__(32 * kTileRows)
    layer_norm_column_partials_kernel(index_t rows, index_t cols, index_t rows_per_split,
                                      const float* __restrict__ dy, const float* __restrict__ x,
                                      const float* __restrict__ mean, const float* __restrict__ rstd,
                                      float* __restrict__ dw_partials, float* __restrict__ db_partials) {
  KILN_SHARED(float, tile_w, [kTileRows][33]);
  KILN_SHARED(float, tile_b, [kTileRows][33]);
  const index_t col = static_cast<index_t>(blockIdx.x) * 32 + threadIdx.x;
  const index_t r0 = static_cast<index_t>(blockIdx.y) * rows_per_split;
  const index_t r1 = r0 + rows_per_split < rows ? r0 + rows_per_split : rows;
  float sw = 0.0f, sb = 0.0f;
  if (col < cols)
    for (index_t r = r0 + threadIdx.y; r < r1; r += kTileRows) {
      const float g = __ldg(dy + r * cols + col);
      sw += g * ((__ldg(x + r * cols + col) - mean[r]) * rstd[r]);
      sb += g;
    }
  tile_w[threadIdx.y][threadIdx.x] = sw;
  tile_b[threadIdx.y][threadIdx.x] = sb;
  __syncthreads();
  if (threadIdx.y == 0 && col < cols) {
    float tw = 0.0f, tb = 0.0f;
    for (int t = 0; t < kTileRows; ++t) tw += tile_w[t][threadIdx.x], tb += tile_b[t][threadIdx.x];
    dw_partials[blockIdx.y * cols + col] = tw;
    db_partials[blockIdx.y * cols + col] = tb;
  }
}

__global__ void __launch_bounds__(kThreads)
    layer_norm_column_finish_kernel(index_t cols, int splits, const float* dw_partials, const float* db_partials,
                                    float* dweight, float* dbias) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t c = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < cols; c += stride) {
    float tw = 0.0f, tb = 0.0f;
    for (int s = 0; s < splits; ++s) tw += dw_partials[s * cols + c], tb += db_partials[s * cols + c];
    if (dweight) dweight[c] = tw;
    if (dbias) dbias[c] = tb;
  }
}

std::string ln_sizes(const LayerNormParams& p) {
  return "rows=" + std::to_string(p.rows) + " cols=" + std::to_string(p.cols);
}

// ---- batch norm --------------------------------------------------------------------------

// The two sums a channel needs: statistics (x - K, (x - K)^2) or gradients (dy, dy * (x - mean)).
template <bool kGrad>
__device__ __forceinline__ void accumulate(const float* u, const float* v, index_t at, float centre, double& a,
                                           double& b) {
  const double xc = static_cast<double>(__ldg(u + at)) - centre;
  if constexpr (kGrad) {
    const double g = __ldg(v + at);
    a += g, b += g * xc;
  } else {
    a += xc, b += xc * xc;
  }
}

// centre of channel c: its first element (statistics) or its mean (gradients).
template <bool kGrad>
__device__ __forceinline__ float centre_of(const float* u, const float* centres, index_t c, index_t inner) {
  return kGrad ? centres[c] : __ldg(u + c * inner);
}

// inner > 1: block (c, s) of kThreads threads sums its share of channel c's (outer, inner) plane.
template <bool kGrad>
__global__ void __launch_bounds__(kThreads)
    channel_partials_planar_kernel(index_t outer, index_t channels, index_t inner, const float* __restrict__ u,
                                   const float* __restrict__ v, const float* __restrict__ centres,
                                   double* __restrict__ partials) {
  KILN_SHARED(double, warp_sums, [32]);
  const index_t c = blockIdx.x, splits = gridDim.y, count = outer * inner;
  const float centre = centre_of<kGrad>(u, centres, c, inner);
  double a = 0.0, b = 0.0;
  for (index_t j = static_cast<index_t>(blockIdx.y) * blockDim.x + threadIdx.x; j < count;
       j += splits * blockDim.x) {
    const index_t o = static_cast<unsigned>(j) / static_cast<unsigned>(inner), i = j - o * inner;
    accumulate<kGrad>(u, v, (o * channels + c) * inner + i, centre, a, b);
  }
  a = detail::block_sum(a, warp_sums);
  b = detail::block_sum(b, warp_sums);
  if (threadIdx.x == 0) {
    partials[(c * splits + blockIdx.y) * 2] = a;
    partials[(c * splits + blockIdx.y) * 2 + 1] = b;
  }
}

// inner == 1: block (channel tile, s) of 32 x kTileRows threads, lanes along the channels.
template <bool kGrad>
__global__ void __launch_bounds__(32 * kTileRows)
    channel_partials_last_kernel(index_t outer, index_t channels, const float* __restrict__ u,
                                 const float* __restrict__ v, const float* __restrict__ centres,
                                 double* __restrict__ partials) {
  KILN_SHARED(double, tile_a, [kTileRows][33]);
  KILN_SHARED(double, tile_b, [kTileRows][33]);
  const index_t c = static_cast<index_t>(blockIdx.x) * 32 + threadIdx.x, splits = gridDim.y;
  double a = 0.0, b = 0.0;
  if (c < channels) {
    const float centre = centre_of<kGrad>(u, centres, c, 1);
    for (index_t o = static_cast<index_t>(blockIdx.y) * kTileRows + threadIdx.y; o < outer; o += splits * kTileRows)
      accumulate<kGrad>(u, v, o * channels + c, centre, a, b);
  }
  tile_a[threadIdx.y][threadIdx.x] = a;
  tile_b[threadIdx.y][threadIdx.x] = b;
  __syncthreads();
  if (threadIdx.y == 0 && c < channels) {
    double ta = 0.0, tb = 0.0;
    for (int t = 0; t < kTileRows; ++t) ta += tile_a[t][threadIdx.x], tb += tile_b[t][threadIdx.x];
    partials[(c * splits + blockIdx.y) * 2] = ta;
    partials[(c * splits + blockIdx.y) * 2 + 1] = tb;
  }
}

__device__ __forceinline__ void channel_totals(const double* partials, index_t c, int splits, double& a, double& b) {
  a = 0.0, b = 0.0;
  for (int s = 0; s < splits; ++s) a += partials[(c * splits + s) * 2], b += partials[(c * splits + s) * 2 + 1];
}

// Training statistics from the partials; inference statistics from the running ones.
__global__ void __launch_bounds__(kThreads)
    batch_stats_finish_kernel(index_t channels, index_t inner, int splits, double count, float eps,
                              const float* __restrict__ x, const double* __restrict__ partials,
                              const float* __restrict__ running_mean, const float* __restrict__ running_var,
                              float* __restrict__ mean, float* __restrict__ invstd, float* __restrict__ batch_var) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t c = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < channels; c += stride) {
    if (partials) {
      double a, b;
      channel_totals(partials, c, splits, a, b);
      const double shift = a / count;
      double var = b / count - shift * shift;
      var = var > 0.0 ? var : 0.0;
      mean[c] = static_cast<float>(static_cast<double>(x[c * inner]) + shift);
      invstd[c] = static_cast<float>(1.0 / sqrt(var + static_cast<double>(eps)));
      if (batch_var) batch_var[c] = static_cast<float>(var);
    } else {
      mean[c] = running_mean[c];
      invstd[c] = static_cast<float>(1.0 / sqrt(static_cast<double>(running_var[c]) + static_cast<double>(eps)));
    }
  }
}

// dweight, dbias, and the dx coefficients mean(dy) and mean(dy * xhat) * invstd.
__global__ void __launch_bounds__(kThreads)
    batch_grad_finish_kernel(index_t channels, int splits, double count, const double* __restrict__ partials,
                             const float* __restrict__ invstd, float* __restrict__ dweight, float* __restrict__ dbias,
                             float* __restrict__ dy_mean, float* __restrict__ proj) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t c = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < channels; c += stride) {
    double a, b;
    channel_totals(partials, c, splits, a, b);
    const double s = invstd[c];
    if (dweight) dweight[c] = static_cast<float>(b * s);
    if (dbias) dbias[c] = static_cast<float>(a);
    dy_mean[c] = static_cast<float>(a / count);
    proj[c] = static_cast<float>(b / count * s * s);
  }
}

__global__ void __launch_bounds__(kThreads)
    batch_normalize_kernel(index_t total, index_t channels, index_t inner, const float* __restrict__ x,
                           const float* __restrict__ mean, const float* __restrict__ invstd,
                           const float* __restrict__ w, const float* __restrict__ b, float* __restrict__ y) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t j = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < total; j += stride) {
    const index_t c = (static_cast<unsigned>(j) / static_cast<unsigned>(inner)) % static_cast<unsigned>(channels);
    const float scale = w ? invstd[c] * w[c] : invstd[c];
    y[j] = (__ldg(x + j) - mean[c]) * scale + (b ? b[c] : 0.0f);
  }
}

__global__ void __launch_bounds__(kThreads)
    batch_dx_kernel(index_t total, index_t channels, index_t inner, bool training, const float* __restrict__ dy,
                    const float* __restrict__ x, const float* __restrict__ mean, const float* __restrict__ invstd,
                    const float* __restrict__ w, const float* __restrict__ dy_mean, const float* __restrict__ proj,
                    float* __restrict__ dx) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t j = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < total; j += stride) {
    const index_t c = (static_cast<unsigned>(j) / static_cast<unsigned>(inner)) % static_cast<unsigned>(channels);
    const float scale = w ? invstd[c] * w[c] : invstd[c];
    dx[j] = training ? scale * (__ldg(dy + j) - dy_mean[c] - (__ldg(x + j) - mean[c]) * proj[c])
                     : scale * __ldg(dy + j);
  }
}

std::string bn_sizes(const BatchNormParams& p) {
  return "outer=" + std::to_string(p.outer) + " channels=" + std::to_string(p.channels) +
         " inner=" + std::to_string(p.inner);
}

// Splits per channel (tile) so that the grid has ~1024 blocks and each block >= ~4096 elements.
int channel_splits(const BatchNormParams& p) {
  const index_t count = p.outer * p.inner;
  const index_t tiles = p.inner > 1 ? p.channels : (p.channels + 31) / 32;
  const index_t per_block = p.inner > 1 ? 4096 : 128;  // elements (planar) or rows (channels-last)
  const index_t by_work = ((p.inner > 1 ? count : p.outer) + per_block - 1) / per_block;
  const index_t by_grid = std::max<index_t>(1, 1024 / std::max<index_t>(1, tiles));
  return static_cast<int>(std::max<index_t>(1, std::min<index_t>({by_work, by_grid, index_t(kMaxSplits)})));
}

// The per-channel partial sums of (u, v) into partials (channels * splits * 2 doubles).
template <bool kGrad>
cudaError_t launch_channel_partials(const BatchNormParams& p, int splits, const float* u, const float* v,
                                    const float* centres, double* partials, cudaStream_t stream) {
  if (p.inner > 1)
    return launch(channel_partials_planar_kernel<kGrad>, dim3(static_cast<unsigned>(p.channels), splits),
                  dim3(kThreads), 0, stream, p.outer, p.channels, p.inner, u, v, centres, partials);
  return launch(channel_partials_last_kernel<kGrad>, dim3(static_cast<unsigned>((p.channels + 31) / 32), splits),
                dim3(32, kTileRows), 0, stream, p.outer, p.channels, u, v, centres, partials);
}

}  // namespace

void layer_norm_forward(const LayerNormParams& p, const float* x, const float* weight, const float* bias,
                        float* y, float* mean, float* rstd, cudaStream_t stream) {
  constexpr const char* kFn = "layer_norm_forward";
  layer_norm_check(kFn, p);
  if (p.rows == 0) return;
  KILN_CHECK(x && y && mean && rstd, kFn << ": x, y, mean and rstd must not be null");
  const float inv_n = static_cast<float>(1.0 / static_cast<double>(p.cols));
  const cudaError_t error =
      p.cols > kWarpCols
          ? launch(layer_norm_kernel<true>, row_grid(p.rows, p.cols), dim3(kThreads), 0, stream, p.rows, p.cols,
                   inv_n, p.eps, x, weight, bias, y, mean, rstd)
          : launch(layer_norm_kernel<false>, row_grid(p.rows, p.cols), dim3(kThreads), 0, stream, p.rows, p.cols,
                   inv_n, p.eps, x, weight, bias, y, mean, rstd);
  detail::throw_if_failed(error, kFn, ln_sizes(p));
}

void layer_norm_backward(const LayerNormParams& p, const float* dy, const float* x, const float* mean,
                         const float* rstd, const float* weight, float* dx, float* dweight, float* dbias,
                         cudaStream_t stream) {
  constexpr const char* kFn = "layer_norm_backward";
  layer_norm_check(kFn, p);
  KILN_CHECK(p.rows == 0 || (dy && x && mean && rstd), kFn << ": dy, x, mean and rstd must not be null");
  const float inv_n = static_cast<float>(1.0 / static_cast<double>(p.cols));
  cudaError_t error = cudaSuccess;
  if (dx && p.rows > 0)
    error = p.cols > kWarpCols
                ? launch(layer_norm_dx_kernel<true>, row_grid(p.rows, p.cols), dim3(kThreads), 0, stream, p.rows,
                         p.cols, inv_n, dy, x, mean, rstd, weight, dx)
                : launch(layer_norm_dx_kernel<false>, row_grid(p.rows, p.cols), dim3(kThreads), 0, stream, p.rows,
                         p.cols, inv_n, dy, x, mean, rstd, weight, dx);
  if (error == cudaSuccess && (dweight || dbias)) {
    const index_t tiles = (p.cols + 31) / 32;
    const index_t by_grid = std::max<index_t>(1, 1024 / tiles), by_work = (p.rows + 63) / 64;
    const int splits = static_cast<int>(std::min<index_t>({by_grid, by_work, index_t(kMaxSplits)}));
    float* partials = nullptr;
    if (splits > 0) {
      partials = static_cast<float*>(detail::stream_scratch(stream, 2 * sizeof(float) * splits * p.cols, kFn));
      const index_t rows_per_split = (p.rows + splits - 1) / splits;
      error = launch(layer_norm_column_partials_kernel, dim3(static_cast<unsigned>(tiles), splits),
                     dim3(32, kTileRows), 0, stream, p.rows, p.cols, rows_per_split, dy, x, mean, rstd, partials,
                     partials + splits * p.cols);
    }
    if (error == cudaSuccess)
      error = launch(layer_norm_column_finish_kernel, dim3(detail::grid_for(p.cols, kThreads)), dim3(kThreads), 0,
                     stream, p.cols, splits, partials, partials ? partials + splits * p.cols : nullptr, dweight,
                     dbias);
  }
  detail::throw_if_failed(error, kFn, ln_sizes(p));
}

void batch_norm_forward(const BatchNormParams& p, const float* x, const float* weight, const float* bias,
                        const float* running_mean, const float* running_var, bool training, float* y,
                        float* save_mean, float* save_invstd, float* batch_var, cudaStream_t stream) {
  constexpr const char* kFn = "batch_norm_forward";
  batch_norm_check(kFn, p);
  const index_t total = p.outer * p.channels * p.inner, count = p.outer * p.inner;
  KILN_CHECK(total == 0 || (x && y), kFn << ": x and y must not be null");
  KILN_CHECK(save_mean && save_invstd, kFn << ": save_mean and save_invstd must not be null");
  KILN_CHECK(training || (running_mean && running_var), kFn << ": inference needs running_mean and running_var");
  KILN_CHECK(!training || count > 0, kFn << ": training needs at least one value per channel");
  const int splits = channel_splits(p);
  double* partials = nullptr;
  cudaError_t error = cudaSuccess;
  if (training) {
    partials = static_cast<double*>(detail::stream_scratch(stream, 2 * sizeof(double) * splits * p.channels, kFn));
    error = launch_channel_partials<false>(p, splits, x, nullptr, nullptr, partials, stream);
  }
  if (error == cudaSuccess)
    error = launch(batch_stats_finish_kernel, dim3(detail::grid_for(p.channels, kThreads)), dim3(kThreads), 0,
                   stream, p.channels, p.inner, splits, static_cast<double>(count), p.eps, x, partials, running_mean,
                   running_var, save_mean, save_invstd, batch_var);
  if (error == cudaSuccess && total > 0)
    error = launch(batch_normalize_kernel, dim3(detail::grid_for(total, kThreads)), dim3(kThreads), 0, stream, total,
                   p.channels, p.inner, x, save_mean, save_invstd, weight, bias, y);
  detail::throw_if_failed(error, kFn, bn_sizes(p));
}

void batch_norm_backward(const BatchNormParams& p, const float* dy, const float* x, const float* save_mean,
                         const float* save_invstd, const float* weight, bool training, float* dx,
                         float* dweight, float* dbias, cudaStream_t stream) {
  constexpr const char* kFn = "batch_norm_backward";
  batch_norm_check(kFn, p);
  const index_t total = p.outer * p.channels * p.inner, count = p.outer * p.inner;
  KILN_CHECK(save_mean && save_invstd, kFn << ": save_mean and save_invstd must not be null");
  KILN_CHECK(total == 0 || (dy && x), kFn << ": dy and x must not be null");
  const int splits = count > 0 ? channel_splits(p) : 0;
  const std::size_t partial_bytes = 2 * sizeof(double) * std::max(splits, 1) * p.channels;
  auto* scratch = static_cast<unsigned char*>(
      detail::stream_scratch(stream, partial_bytes + 2 * sizeof(float) * p.channels, kFn));
  auto* partials = reinterpret_cast<double*>(scratch);
  auto* dy_mean = reinterpret_cast<float*>(scratch + partial_bytes);
  float* proj = dy_mean + p.channels;
  cudaError_t error = cudaSuccess;
  if (splits > 0) error = launch_channel_partials<true>(p, splits, x, dy, save_mean, partials, stream);
  if (error == cudaSuccess)
    error = launch(batch_grad_finish_kernel, dim3(detail::grid_for(p.channels, kThreads)), dim3(kThreads), 0, stream,
                   p.channels, splits, static_cast<double>(count), partials, save_invstd, dweight, dbias, dy_mean,
                   proj);
  if (error == cudaSuccess && dx && total > 0)
    error = launch(batch_dx_kernel, dim3(detail::grid_for(total, kThreads)), dim3(kThreads), 0, stream, total,
                   p.channels, p.inner, training, dy, x, save_mean, save_invstd, weight, dy_mean, proj, dx);
  detail::throw_if_failed(error, kFn, bn_sizes(p));
}

}  // namespace kiln::cuda
