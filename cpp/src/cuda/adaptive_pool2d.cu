// kiln CUDA: adaptive average and max pooling (kiln/cuda/adaptive_pool2d.hpp).
//
// Memory-bound: the layouts below keep loads coalesced. A window's bounds come from
// 64-bit products (i * H can pass 2^31 even when both fit in 32 bits); the rest is 32-bit.
#include "kiln/cuda/adaptive_pool2d.hpp"

#include <climits>
#include <string>

#include "../cpu/check.hpp"
#include "check.hpp"
#include "device_util.cuh"
#include "kiln/cuda/pool2d.hpp"
#include "launch.hpp"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarpsPerBlock = kThreads / 32;
// Windows of at most this many elements take one thread per output, larger ones a warp.
constexpr index_t kThreadWindow = 32;

struct Geometry {
  int h, w, out_h, out_w;
  index_t outputs, inputs;  // N*C*OH*OW, N*C*H*W
};

Geometry geometry(const AdaptivePool2dParams& p) {
  return {static_cast<int>(p.h), static_cast<int>(p.w), static_cast<int>(p.out_h), static_cast<int>(p.out_w),
          p.n * p.c * p.out_h * p.out_w, p.n * p.c * p.h * p.w};
}

std::string sizes(const AdaptivePool2dParams& p) {
  return "x (" + std::to_string(p.n) + ", " + std::to_string(p.c) + ", " + std::to_string(p.h) + ", " +
         std::to_string(p.w) + "), output (" + std::to_string(p.out_h) + ", " + std::to_string(p.out_w) + ")";
}

__device__ __forceinline__ int start_of(int i, int in, int out) {
  return static_cast<int>((static_cast<index_t>(i) * in) / out);
}
__device__ __forceinline__ int end_of(int i, int in, int out) {
  return static_cast<int>(((static_cast<index_t>(i) + 1) * in + out - 1) / out);
}

// The window of output o: its plane's first input, rows [h0, h1), columns [w0, w1).
struct Window {
  index_t plane;
  int h0, h1, w0, w1;
};

__device__ __forceinline__ Window window_of(const Geometry& g, index_t o) {
  const unsigned ou = static_cast<unsigned>(o), t = ou / g.out_w;
  const int j = static_cast<int>(ou - t * g.out_w), i = static_cast<int>(t % g.out_h);
  return {static_cast<index_t>(t / g.out_h), start_of(i, g.h, g.out_h), end_of(i, g.h, g.out_h),
          start_of(j, g.w, g.out_w), end_of(j, g.w, g.out_w)};
}

// The max's running choice: the first maximum, or the last NaN (positions ascend in scan order).
struct Best {
  float v;
  int at;  // INT_MAX: nothing seen yet
};

__device__ __forceinline__ void take(Best& b, float v, int at) {
  if (b.at == INT_MAX || v > b.v || v != v) b = {v, at};
}

// Two lanes' choices, whichever order they scanned in.
__device__ __forceinline__ Best better(Best a, Best b) {
  if (a.at == INT_MAX) return b;
  if (b.at == INT_MAX) return a;
  const bool a_nan = a.v != a.v, b_nan = b.v != b.v;
  if (a_nan || b_nan) return a_nan && b_nan ? (a.at > b.at ? a : b) : (a_nan ? a : b);
  if (a.v != b.v) return a.v > b.v ? a : b;
  return a.at < b.at ? a : b;
}

__global__ void __launch_bounds__(kThreads)
    avg_thread_kernel(Geometry g, const float* __restrict__ x, float* __restrict__ y) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t o = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < g.outputs; o += stride) {
    const Window win = window_of(g, o);
    const float* xp = x + win.plane * g.h * g.w;
    float sum = 0.0f;
    for (int r = win.h0; r < win.h1; ++r)
      for (int c = win.w0; c < win.w1; ++c) sum += __ldg(xp + r * g.w + c);
    y[o] = sum / static_cast<float>((win.h1 - win.h0) * (win.w1 - win.w0));
  }
}

__global__ void __launch_bounds__(kThreads)
    avg_warp_kernel(Geometry g, const float* __restrict__ x, float* __restrict__ y) {
  const int lane = threadIdx.x & 31;
  const index_t warps = static_cast<index_t>(gridDim.x) * kWarpsPerBlock;
  for (index_t o = static_cast<index_t>(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5); o < g.outputs;
       o += warps) {
    const Window win = window_of(g, o);
    const float* xp = x + win.plane * g.h * g.w;
    const int width = win.w1 - win.w0, area = (win.h1 - win.h0) * width;
    float sum = 0.0f;
    for (int e = lane; e < area; e += 32) sum += __ldg(xp + (win.h0 + e / width) * g.w + win.w0 + e % width);
    sum = detail::warp_sum(sum);
    if (lane == 0) y[o] = sum / static_cast<float>(area);
  }
}

__global__ void __launch_bounds__(kThreads)
    max_thread_kernel(Geometry g, const float* __restrict__ x, float* __restrict__ y,
                      std::int64_t* __restrict__ indices) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t o = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < g.outputs; o += stride) {
    const Window win = window_of(g, o);
    const float* xp = x + win.plane * g.h * g.w;
    Best best{0.0f, INT_MAX};
    for (int r = win.h0; r < win.h1; ++r)
      for (int c = win.w0; c < win.w1; ++c) take(best, __ldg(xp + r * g.w + c), r * g.w + c);
    y[o] = best.v;
    if (indices) indices[o] = best.at;
  }
}

__global__ void __launch_bounds__(kThreads)
    max_warp_kernel(Geometry g, const float* __restrict__ x, float* __restrict__ y,
                    std::int64_t* __restrict__ indices) {
  const int lane = threadIdx.x & 31;
  const index_t warps = static_cast<index_t>(gridDim.x) * kWarpsPerBlock;
  for (index_t o = static_cast<index_t>(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5); o < g.outputs;
       o += warps) {
    const Window win = window_of(g, o);
    const float* xp = x + win.plane * g.h * g.w;
    const int width = win.w1 - win.w0, area = (win.h1 - win.h0) * width;
    Best best{0.0f, INT_MAX};
    for (int e = lane; e < area; e += 32) {
      const int at = (win.h0 + e / width) * g.w + win.w0 + e % width;
      take(best, __ldg(xp + at), at);
    }
    for (int offset = 16; offset > 0; offset >>= 1) {
      const Best other{__shfl_xor_sync(detail::kFullMask, best.v, offset), __shfl_xor_sync(detail::kFullMask, best.at, offset)};
      best = better(best, other);
    }
    if (lane == 0) {
      y[o] = best.v;
      if (indices) indices[o] = best.at;
    }
  }
}

// dx[h, w] = the sum over the windows holding (h, w) of dy / area: outputs i in
// [floor(h*OH/H), ceil((h+1)*OH/H)), j likewise. One thread per input, a fixed order.
__global__ void __launch_bounds__(kThreads)
    avg_backward_kernel(Geometry g, const float* __restrict__ dy, float* __restrict__ dx) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t e = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < g.inputs; e += stride) {
    const unsigned eu = static_cast<unsigned>(e), t = eu / g.w;
    const int w = static_cast<int>(eu - t * g.w), h = static_cast<int>(t % g.h);
    const float* dyp = dy + static_cast<index_t>(t / g.h) * g.out_h * g.out_w;
    const int i0 = start_of(h, g.out_h, g.h), i1 = end_of(h, g.out_h, g.h);
    const int j0 = start_of(w, g.out_w, g.w), j1 = end_of(w, g.out_w, g.w);
    float acc = 0.0f;
    for (int i = i0; i < i1; ++i) {
      const int rows = end_of(i, g.h, g.out_h) - start_of(i, g.h, g.out_h);
      for (int j = j0; j < j1; ++j) {
        const int cols = end_of(j, g.w, g.out_w) - start_of(j, g.w, g.out_w);
        acc += __ldg(dyp + i * g.out_w + j) / static_cast<float>(rows * cols);
      }
    }
    dx[e] = acc;
  }
}

// The largest window along an axis: ceil(in / out) + 1 bounds it.
index_t widest(index_t in, index_t out) { return (in + out - 1) / out + 1; }

bool per_thread(const AdaptivePool2dParams& p) { return widest(p.h, p.out_h) * widest(p.w, p.out_w) <= kThreadWindow; }

unsigned warp_blocks(index_t outputs) {
  return detail::grid_for(outputs * 32, kThreads);
}

}  // namespace

void adaptive_avg_pool2d_forward(const AdaptivePool2dParams& p, const float* x, float* y, cudaStream_t stream) {
  constexpr const char* kFn = "adaptive_avg_pool2d_forward";
  kiln::adaptive_pool2d_check(p);
  const Geometry g = geometry(p);
  if (g.outputs == 0) return;
  KILN_CHECK(x != nullptr && y != nullptr, kFn << ": x or y is null");
  const cudaError_t e = per_thread(p)
      ? launch(avg_thread_kernel, dim3(detail::grid_for(g.outputs, kThreads)), dim3(kThreads), 0, stream, g, x, y)
      : launch(avg_warp_kernel, dim3(warp_blocks(g.outputs)), dim3(kThreads), 0, stream, g, x, y);
  detail::throw_if_failed(e, kFn, sizes(p));
}

void adaptive_avg_pool2d_backward(const AdaptivePool2dParams& p, const float* dy, float* dx, cudaStream_t stream) {
  constexpr const char* kFn = "adaptive_avg_pool2d_backward";
  kiln::adaptive_pool2d_check(p);
  const Geometry g = geometry(p);
  if (g.inputs == 0) return;
  KILN_CHECK(dy != nullptr && dx != nullptr, kFn << ": dy or dx is null");
  detail::throw_if_failed(launch(avg_backward_kernel, dim3(detail::grid_for(g.inputs, kThreads)), dim3(kThreads), 0,
                                 stream, g, dy, dx),
                          kFn, sizes(p));
}

void adaptive_max_pool2d_forward(const AdaptivePool2dParams& p, const float* x, float* y, std::int64_t* indices,
                                 cudaStream_t stream) {
  constexpr const char* kFn = "adaptive_max_pool2d_forward";
  kiln::adaptive_pool2d_check(p);
  const Geometry g = geometry(p);
  if (g.outputs == 0) return;
  KILN_CHECK(x != nullptr && y != nullptr, kFn << ": x or y is null");
  const cudaError_t e =
      per_thread(p) ? launch(max_thread_kernel, dim3(detail::grid_for(g.outputs, kThreads)), dim3(kThreads), 0,
                             stream, g, x, y, indices)
                    : launch(max_warp_kernel, dim3(warp_blocks(g.outputs)), dim3(kThreads), 0, stream, g, x, y,
                             indices);
  detail::throw_if_failed(e, kFn, sizes(p));
}

void adaptive_max_pool2d_backward(const AdaptivePool2dParams& p, const float* dy, const std::int64_t* indices,
                                  float* dx, cudaStream_t stream) {
  kiln::adaptive_pool2d_check(p);
  max_pool2d_backward_scatter(p.n * p.c, p.h * p.w, p.out_h * p.out_w, dy, indices, dx, stream);
}

}  // namespace kiln::cuda
