// kiln CUDA: CSR x dense and its weight gradient (kiln/cuda/sparse_matmul.hpp).
//
// One warp per CSR row (kWarps warps per block, grid-stride over rows). The warp loads 32
// of the row's entries at once (one per lane, coalesced) and broadcasts each with a
// shuffle; the lanes span the output columns, so with W (k, n) every term reads a
// contiguous, coalesced slice of one row of W. With W (n, k) (nn.Linear's layout) each
// lane gathers its column's terms from its own row of W: the same loop, strided reads.
// The weight gradient first scales dW by beta, then each warp adds its row's entries
// times dY's row into dW's rows with atomicAdd (TF-IDF batches touch few columns twice).
#include "kiln/cuda/sparse_matmul.hpp"

#include <string>

#include "../cpu/check.hpp"
#include "check.hpp"
#include "device_util.cuh"
#include "kiln/cuda/checks.hpp"
#include "launch.hpp"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kColumnsPerLane = 4;  // accumulators per lane: 128 columns per warp pass

struct Csr {
  index_t rows, cols, nnz;
  const std::int64_t* indptr;
  const std::int32_t* indices;
  const float* data;
};

Csr csr(const CsrMatrix& x) { return {x.rows, x.cols, x.nnz, x.indptr, x.indices, x.data}; }

std::string sizes(const CsrMatrix& x, index_t n) {
  return "m=" + std::to_string(x.rows) + " k=" + std::to_string(x.cols) + " n=" + std::to_string(n) +
         " nnz=" + std::to_string(x.nnz);
}

__global__ void __launch_bounds__(kThreads)
    first_decrease_kernel(const std::int64_t* indptr, index_t rows, unsigned long long* first) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < rows; i += stride)
    if (indptr[i + 1] < indptr[i]) {
      atomicMin(first, static_cast<unsigned long long>(i));
      return;
    }
}

// Y rows: init = beta * y (0 when beta == 0) + bias, then the terms in storage order.
template <bool kTransposed>
__global__ void __launch_bounds__(kThreads)
    forward_kernel(Csr x, index_t n, const float* __restrict__ w, const float* __restrict__ bias,
                   float beta, float* y) {
  const int lane = threadIdx.x & 31;
  const index_t warps = static_cast<index_t>(gridDim.x) * kWarps;
  for (index_t i = static_cast<index_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5); i < x.rows;
       i += warps) {
    const index_t p0 = x.indptr[i], p1 = x.indptr[i + 1];
    float* yi = y + i * n;
    for (index_t j0 = 0; j0 < n; j0 += 32 * kColumnsPerLane) {
      float acc[kColumnsPerLane];
      for (int c = 0; c < kColumnsPerLane; ++c) {
        const index_t j = j0 + c * 32 + lane;
        float a = 0.0f;
        if (j < n) {
          if (beta != 0.0f) a = __fmul_rn(yi[j], beta);
          if (bias) a = __fadd_rn(a, __ldg(bias + j));
        }
        acc[c] = a;
      }
      for (index_t b = p0; b < p1; b += 32) {
        const int count = static_cast<int>(min(static_cast<index_t>(32), p1 - b));
        const int my_col = lane < count ? __ldg(x.indices + b + lane) : 0;
        const float my_val = lane < count ? __ldg(x.data + b + lane) : 0.0f;
        for (int q = 0; q < count; ++q) {
          const index_t col = __shfl_sync(detail::kFullMask, my_col, q);
          const float val = __shfl_sync(detail::kFullMask, my_val, q);
          for (int c = 0; c < kColumnsPerLane; ++c) {
            const index_t j = j0 + c * 32 + lane;
            if (j < n) {
              const float wv = kTransposed ? __ldg(w + j * x.cols + col) : __ldg(w + col * n + j);
              acc[c] = __fmaf_rn(val, wv, acc[c]);
            }
          }
        }
      }
      for (int c = 0; c < kColumnsPerLane; ++c) {
        const index_t j = j0 + c * 32 + lane;
        if (j < n) yi[j] = acc[c];
      }
    }
  }
}

__global__ void __launch_bounds__(kThreads) scale_kernel(float* a, index_t count, float beta) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t e = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < count; e += stride)
    a[e] = __fmul_rn(a[e], beta);
}

// dW[col, :] += val * dY[i, :] (or dW[:, col] with dW (n, k)), a warp per row of X.
template <bool kTransposed>
__global__ void __launch_bounds__(kThreads)
    backward_kernel(Csr x, index_t n, const float* __restrict__ grad_y, float* grad_w) {
  const int lane = threadIdx.x & 31;
  const index_t warps = static_cast<index_t>(gridDim.x) * kWarps;
  for (index_t i = static_cast<index_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5); i < x.rows;
       i += warps) {
    const index_t p0 = x.indptr[i], p1 = x.indptr[i + 1];
    const float* gy = grad_y + i * n;
    for (index_t b = p0; b < p1; b += 32) {
      const int count = static_cast<int>(min(static_cast<index_t>(32), p1 - b));
      const int my_col = lane < count ? __ldg(x.indices + b + lane) : 0;
      const float my_val = lane < count ? __ldg(x.data + b + lane) : 0.0f;
      for (int q = 0; q < count; ++q) {
        const index_t col = __shfl_sync(detail::kFullMask, my_col, q);
        const float val = __shfl_sync(detail::kFullMask, my_val, q);
        for (index_t j = lane; j < n; j += 32) {
          float* target = kTransposed ? grad_w + j * x.cols + col : grad_w + col * n + j;
          atomicAdd(target, __fmul_rn(val, __ldg(gy + j)));
        }
      }
    }
  }
}

void check_dense(const char* fn, const CsrMatrix& x, index_t n) {
  KILN_CHECK(n >= 0, fn << ": n must be >= 0, got " << n);
  kiln::detail::checked_size(fn, "W", x.cols, n);
  kiln::detail::checked_size(fn, "Y", x.rows, n);
}

}  // namespace

void check_csr(const char* fn, const CsrMatrix& x, cudaStream_t stream) {
  KILN_CHECK(x.rows >= 0 && x.cols >= 0 && x.nnz >= 0,
             fn << ": sizes must be >= 0, got m=" << x.rows << " k=" << x.cols << " nnz=" << x.nnz);
  kiln::detail::checked_size(fn, "X's entries", x.nnz);
  KILN_CHECK(x.cols <= kMaxElements,
             fn << ": X has " << x.cols << " columns, more than the int32 indices can address");
  KILN_CHECK(x.indptr != nullptr, fn << ": indptr is null");
  KILN_CHECK(x.nnz == 0 || (x.indices != nullptr && x.data != nullptr),
             fn << ": indices and data must not be null");
  const std::string s = "m=" + std::to_string(x.rows) + " nnz=" + std::to_string(x.nnz);
  auto* word = static_cast<unsigned long long*>(detail::stream_scratch(stream, 8, fn));
  detail::throw_if_failed(cudaMemsetAsync(word, 0xff, 8, stream), fn, s);
  if (x.rows > 0)
    detail::throw_if_failed(launch(first_decrease_kernel, dim3(detail::grid_for(x.rows, kThreads)),
                                   dim3(kThreads), 0, stream, x.indptr, x.rows, word),
                            fn, s);
  std::int64_t ends[2] = {0, 0};
  unsigned long long first = 0;
  detail::throw_if_failed(cudaMemcpyAsync(&ends[0], x.indptr, 8, cudaMemcpyDeviceToHost, stream), fn, s);
  detail::throw_if_failed(cudaMemcpyAsync(&ends[1], x.indptr + x.rows, 8, cudaMemcpyDeviceToHost, stream), fn, s);
  detail::throw_if_failed(cudaMemcpyAsync(&first, word, 8, cudaMemcpyDeviceToHost, stream), fn, s);
  detail::throw_if_failed(cudaStreamSynchronize(stream), fn, s);
  KILN_CHECK(ends[0] == 0, fn << ": indptr[0] must be 0, got " << ends[0]);
  if (first != ~0ull) {
    std::int64_t pair[2] = {0, 0};
    detail::throw_if_failed(cudaMemcpy(pair, x.indptr + first, 16, cudaMemcpyDeviceToHost), fn, s);
    KILN_CHECK(false, fn << ": indptr must not decrease, but indptr[" << first << "] = " << pair[0]
                         << " > indptr[" << first + 1 << "] = " << pair[1]);
  }
  KILN_CHECK(ends[1] == x.nnz, fn << ": indptr[m] = " << ends[1]
                                  << " must equal the number of entries, " << x.nnz);
  const BadIndex bad = find_out_of_range(x.indices, x.nnz, x.cols, false, 0, stream, fn);
  KILN_CHECK(bad.position < 0, fn << ": indices[" << bad.position << "] = " << bad.value
                                  << " is out of range [0, " << x.cols << ")");
}

void sparse_matmul(const CsrMatrix& x, index_t n, const float* w, bool transpose_w,
                   const float* bias, float beta, float* y, cudaStream_t stream) {
  constexpr const char* kFn = "sparse_matmul";
  check_csr(kFn, x, stream);
  check_dense(kFn, x, n);
  if (x.rows == 0 || n == 0) return;
  KILN_CHECK(y != nullptr, kFn << ": y is null");
  KILN_CHECK(x.nnz == 0 || w != nullptr, kFn << ": w is null");
  const dim3 grid(detail::grid_for(x.rows, kWarps));
  const cudaError_t error =
      transpose_w ? launch(forward_kernel<true>, grid, dim3(kThreads), 0, stream, csr(x), n, w, bias, beta, y)
                  : launch(forward_kernel<false>, grid, dim3(kThreads), 0, stream, csr(x), n, w, bias, beta, y);
  detail::throw_if_failed(error, kFn, sizes(x, n));
}

void sparse_matmul_backward_weight(const CsrMatrix& x, index_t n, const float* grad_y,
                                   bool transpose_w, float beta, float* grad_w, cudaStream_t stream) {
  constexpr const char* kFn = "sparse_matmul_backward_weight";
  check_csr(kFn, x, stream);
  check_dense(kFn, x, n);
  if (x.cols == 0 || n == 0) return;
  KILN_CHECK(grad_w != nullptr, kFn << ": grad_w is null");
  KILN_CHECK(x.nnz == 0 || grad_y != nullptr, kFn << ": grad_y is null");
  const std::string s = sizes(x, n);
  const index_t count = x.cols * n;
  if (beta == 0.0f) {
    detail::throw_if_failed(cudaMemsetAsync(grad_w, 0, static_cast<std::size_t>(count) * sizeof(float), stream),
                            kFn, s);
  } else if (beta != 1.0f) {
    detail::throw_if_failed(launch(scale_kernel, dim3(detail::grid_for(count, kThreads)), dim3(kThreads),
                                   0, stream, grad_w, count, beta),
                            kFn, s);
  }
  if (x.nnz == 0) return;
  const dim3 grid(detail::grid_for(x.rows, kWarps));
  const cudaError_t error =
      transpose_w ? launch(backward_kernel<true>, grid, dim3(kThreads), 0, stream, csr(x), n, grad_y, grad_w)
                  : launch(backward_kernel<false>, grid, dim3(kThreads), 0, stream, csr(x), n, grad_y, grad_w);
  detail::throw_if_failed(error, kFn, s);
}

}  // namespace kiln::cuda
