// kiln CUDA: max and average pooling, forward and backward (kiln/cuda/pool2d.hpp).
//
// Pooling is memory-bound with little reuse, so the structure is one thread per output
// (forward) or per input (average backward) in a grid-stride loop: consecutive threads
// take consecutive elements of a row, so loads and stores coalesce, and each window's
// taps are clipped to the input once, so the inner loops never test bounds. Every
// element takes the CPU's operations in the CPU's order (cpp/src/cpu/pool2d.cpp), which
// makes the results bit-identical: max in window order (the first maximum, the last NaN),
// average sums row by row then tap by tap, and the average's gradient gathers its
// shares in the order the CPU's scatter adds them (output rows up, columns down).
// The max gradient has only the indices (not the geometry) to go by, so it scatters
// with atomicAdd after the indices are checked on the device.
#include "kiln/cuda/pool2d.hpp"

#include <string>

#include "../cpu/check.hpp"
#include "check.hpp"
#include "device_util.cuh"
#include "kiln/cuda/checks.hpp"
#include "launch.hpp"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 256;

// The geometry in 32-bit ints: every operand has at most kMaxElements elements.
struct Geometry {
  int h, w, out_h, out_w;
  int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  index_t outputs, inputs;  // N*C*OH*OW, N*C*H*W
};

Geometry geometry(const Pool2dParams& p) {
  Geometry g;
  g.h = static_cast<int>(p.h);
  g.w = static_cast<int>(p.w);
  g.out_h = static_cast<int>(p.out_h());
  g.out_w = static_cast<int>(p.out_w());
  g.kernel_h = static_cast<int>(p.kernel_h);
  g.kernel_w = static_cast<int>(p.kernel_w);
  g.stride_h = static_cast<int>(p.stride_h);
  g.stride_w = static_cast<int>(p.stride_w);
  g.pad_h = static_cast<int>(p.pad_h);
  g.pad_w = static_cast<int>(p.pad_w);
  g.dilation_h = static_cast<int>(p.dilation_h);
  g.dilation_w = static_cast<int>(p.dilation_w);
  g.outputs = p.n * p.c * p.out_h() * p.out_w();
  g.inputs = p.n * p.c * p.h * p.w;
  return g;
}

std::string sizes(const Pool2dParams& p) {
  return "x (" + std::to_string(p.n) + ", " + std::to_string(p.c) + ", " + std::to_string(p.h) +
         ", " + std::to_string(p.w) + "), kernel (" + std::to_string(p.kernel_h) + ", " +
         std::to_string(p.kernel_w) + ")";
}

// The taps t < kernel of a window starting at `start` with start + t*dilation in [0, size):
// [first, last), empty when none is inside.
__device__ __forceinline__ void taps_inside(int start, int kernel, int dilation, int size,
                                            int& first, int& last) {
  first = start >= 0 ? 0 : (-start + dilation - 1) / dilation;
  last = start >= size ? 0 : min(kernel, (size - 1 - start) / dilation + 1);
  last = max(first, last);
}

__global__ void __launch_bounds__(kThreads)
    max_pool_forward_kernel(Geometry g, const float* __restrict__ x, float* __restrict__ y,
                            std::int64_t* __restrict__ indices) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t o = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < g.outputs;
       o += stride) {
    // 32-bit division (o < 2^31): a 64-bit one costs several times more on the GPU.
    const unsigned ou = static_cast<unsigned>(o), t = ou / g.out_w;
    const int ow = static_cast<int>(ou - t * g.out_w);
    const int oh = static_cast<int>(t % g.out_h);
    const index_t plane = t / g.out_h;
    const float* xp = x + plane * g.h * g.w;
    const int h0 = oh * g.stride_h - g.pad_h, w0 = ow * g.stride_w - g.pad_w;
    int i0, i1, j0, j1;
    taps_inside(h0, g.kernel_h, g.dilation_h, g.h, i0, i1);
    taps_inside(w0, g.kernel_w, g.dilation_w, g.w, j0, j1);
    float best = -INFINITY;
    int at = (h0 + i0 * g.dilation_h) * g.w + w0 + j0 * g.dilation_w;
    for (int i = i0; i < i1; ++i) {
      const int row = (h0 + i * g.dilation_h) * g.w + w0;
      for (int j = j0; j < j1; ++j) {
        const int pos = row + j * g.dilation_w;
        const float v = __ldg(xp + pos);
        if (v > best || v != v) {
          best = v;
          at = pos;
        }
      }
    }
    y[o] = best;
    if (indices) indices[o] = at;
  }
}

// The divisor of the average over the window starting at (h0, w0), as the CPU's.
__device__ __forceinline__ index_t avg_divisor(const Geometry& g, int h0, int w0, bool count_include_pad,
                                               index_t divisor_override) {
  if (divisor_override != 0) return divisor_override;
  const int h1 = min(h0 + g.kernel_h, g.h + g.pad_h), w1 = min(w0 + g.kernel_w, g.w + g.pad_w);
  if (count_include_pad) return (h1 - h0) * (w1 - w0);
  return (min(h1, g.h) - max(h0, 0)) * (min(w1, g.w) - max(w0, 0));
}

__global__ void __launch_bounds__(kThreads)
    avg_pool_forward_kernel(Geometry g, const float* __restrict__ x, float* __restrict__ y,
                            bool count_include_pad, index_t divisor_override) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t o = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < g.outputs;
       o += stride) {
    const unsigned ou = static_cast<unsigned>(o), t = ou / g.out_w;
    const int ow = static_cast<int>(ou - t * g.out_w);
    const int oh = static_cast<int>(t % g.out_h);
    const float* xp = x + static_cast<index_t>(t / g.out_h) * g.h * g.w;
    const int h0 = oh * g.stride_h - g.pad_h, w0 = ow * g.stride_w - g.pad_w;
    const int r0 = max(h0, 0), r1 = min(h0 + g.kernel_h, g.h);
    const int c0 = max(w0, 0), c1 = min(w0 + g.kernel_w, g.w);
    float sum = 0.0f;
    for (int r = r0; r < r1; ++r)
      for (int c = c0; c < c1; ++c) sum = __fadd_rn(sum, __ldg(xp + r * g.w + c));
    const bool empty = r0 >= r1 || c0 >= c1;
    y[o] = empty ? 0.0f
                 : __fdiv_rn(sum, static_cast<float>(
                                      avg_divisor(g, h0, w0, count_include_pad, divisor_override)));
  }
}

// dx[h, w] = the sum of dy / divisor over the windows that cover (h, w), in the CPU's
// order: output rows ascending, and within a row the columns descending (the CPU adds
// tap by tap, and a later tap reaches this input from an earlier output column).
__global__ void __launch_bounds__(kThreads)
    avg_pool_backward_kernel(Geometry g, const float* __restrict__ dy, float* __restrict__ dx,
                             bool count_include_pad, index_t divisor_override) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t e = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < g.inputs;
       e += stride) {
    const unsigned eu = static_cast<unsigned>(e), t = eu / g.w;
    const int w = static_cast<int>(eu - t * g.w);
    const int h = static_cast<int>(t % g.h);
    const float* dyp = dy + static_cast<index_t>(t / g.h) * g.out_h * g.out_w;
    // Output rows oh with oh*stride - pad <= h < oh*stride - pad + kernel.
    const int hp = h + g.pad_h, wp = w + g.pad_w;
    const int oh0 = hp < g.kernel_h ? 0 : (hp - g.kernel_h) / g.stride_h + 1;
    const int oh1 = min(g.out_h - 1, hp / g.stride_h);
    const int ow0 = wp < g.kernel_w ? 0 : (wp - g.kernel_w) / g.stride_w + 1;
    const int ow1 = min(g.out_w - 1, wp / g.stride_w);
    float acc = 0.0f;
    for (int oh = oh0; oh <= oh1; ++oh) {
      const int h0 = oh * g.stride_h - g.pad_h;
      for (int ow = ow1; ow >= ow0; --ow) {
        const int w0 = ow * g.stride_w - g.pad_w;
        const float share = __fdiv_rn(
            __ldg(dyp + oh * g.out_w + ow),
            static_cast<float>(avg_divisor(g, h0, w0, count_include_pad, divisor_override)));
        acc = __fadd_rn(acc, share);
      }
    }
    dx[e] = acc;
  }
}

__global__ void __launch_bounds__(kThreads)
    max_pool_scatter_kernel(index_t outputs, index_t in_size, index_t out_size,
                            const float* __restrict__ dy, const std::int64_t* __restrict__ indices,
                            float* dx) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t o = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < outputs;
       o += stride)
    atomicAdd(dx + static_cast<index_t>(static_cast<unsigned>(o) / static_cast<unsigned>(out_size)) * in_size +
                  __ldg(indices + o),
              __ldg(dy + o));
}

}  // namespace

void max_pool2d_forward(const Pool2dParams& p, const float* x, float* y, std::int64_t* indices,
                        cudaStream_t stream) {
  constexpr const char* kFn = "max_pool2d_forward";
  kiln::max_pool2d_check(p);
  const Geometry g = geometry(p);
  if (g.outputs == 0) return;
  KILN_CHECK(x != nullptr && y != nullptr, kFn << ": x or y is null");
  detail::throw_if_failed(launch(max_pool_forward_kernel, dim3(detail::grid_for(g.outputs, kThreads)),
                                 dim3(kThreads), 0, stream, g, x, y, indices),
                          kFn, sizes(p));
}

void max_pool2d_backward_scatter(index_t planes, index_t in_size, index_t out_size,
                                 const float* dy, const std::int64_t* indices, float* dx,
                                 cudaStream_t stream) {
  constexpr const char* kFn = "max_pool2d_backward";
  KILN_CHECK(planes >= 0 && in_size >= 0 && out_size >= 0,
             kFn << ": sizes must be >= 0, got " << planes << " planes of " << in_size
                 << " inputs and " << out_size << " outputs");
  const index_t dx_size = kiln::detail::checked_size(kFn, "dx", planes, in_size);
  const index_t dy_size = kiln::detail::checked_size(kFn, "dy", planes, out_size);
  if (dx_size == 0 && dy_size == 0) return;
  KILN_CHECK(dx != nullptr && (dy_size == 0 || (dy != nullptr && indices != nullptr)),
             kFn << ": dx, dy or indices is null");
  const BadIndex bad = find_out_of_range(indices, dy_size, in_size, false, 0, stream, kFn);
  KILN_CHECK(bad.position < 0, kFn << ": indices must lie in [0, " << in_size
                                   << "), the size of a plane: indices[" << bad.position
                                   << "] (flat) is " << bad.value << ", outside its plane");
  const std::string s = "planes=" + std::to_string(planes) + " in=" + std::to_string(in_size) +
                        " out=" + std::to_string(out_size);
  if (dx_size) detail::throw_if_failed(cudaMemsetAsync(dx, 0, dx_size * sizeof(float), stream), kFn, s);
  if (dy_size == 0) return;
  detail::throw_if_failed(launch(max_pool_scatter_kernel, dim3(detail::grid_for(dy_size, kThreads)),
                                 dim3(kThreads), 0, stream, dy_size, in_size, out_size, dy, indices, dx),
                          kFn, s);
}

void max_pool2d_backward(const Pool2dParams& p, const float* dy, const std::int64_t* indices,
                         float* dx, cudaStream_t stream) {
  kiln::max_pool2d_check(p);
  max_pool2d_backward_scatter(p.n * p.c, p.h * p.w, p.out_h() * p.out_w(), dy, indices, dx, stream);
}

void avg_pool2d_forward(const Pool2dParams& p, const float* x, float* y, bool count_include_pad,
                        index_t divisor_override, cudaStream_t stream) {
  constexpr const char* kFn = "avg_pool2d_forward";
  kiln::avg_pool2d_check(p);
  const Geometry g = geometry(p);
  if (g.outputs == 0) return;
  KILN_CHECK(x != nullptr && y != nullptr, kFn << ": x or y is null");
  detail::throw_if_failed(launch(avg_pool_forward_kernel, dim3(detail::grid_for(g.outputs, kThreads)),
                                 dim3(kThreads), 0, stream, g, x, y, count_include_pad,
                                 divisor_override),
                          kFn, sizes(p));
}

void avg_pool2d_backward(const Pool2dParams& p, const float* dy, float* dx, bool count_include_pad,
                         index_t divisor_override, cudaStream_t stream) {
  constexpr const char* kFn = "avg_pool2d_backward";
  kiln::avg_pool2d_check(p);
  const Geometry g = geometry(p);
  if (g.inputs == 0) return;
  KILN_CHECK(dy != nullptr && dx != nullptr, kFn << ": dy or dx is null");
  detail::throw_if_failed(launch(avg_pool_backward_kernel, dim3(detail::grid_for(g.inputs, kThreads)),
                                 dim3(kThreads), 0, stream, g, dy, dx, count_include_pad,
                                 divisor_override),
                          kFn, sizes(p));
}

}  // namespace kiln::cuda
