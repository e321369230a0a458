// kiln CUDA: activations and softmax, forward and backward (kiln/cuda/activation.hpp).
//
// Activations are memory-bound: a grid-stride loop over float4s when every buffer is
// 16-byte aligned (the scalar tail after the last whole float4), floats otherwise; one
// kernel instance per activation, so nothing branches per element.
// Softmax reduces along a strided row view (outer, cols, inner):
// - inner == 1 (the last axis): one warp per row, or one block per row past kWarpCols
//   columns, float4 loads and stores when cols % 4 == 0 and the buffers are aligned; max
//   and sums are shuffle reductions, the row is read three times (the re-reads hit the
//   cache) so nothing is held in registers and any length works;
// - inner > 1: one thread per row, consecutive threads on consecutive i, so each of the
//   row's cols loads is coalesced across the warp: no transposed copy.
#include "kiln/cuda/activation.hpp"

#include <string>
#include <type_traits>

#include "../cpu/check.hpp"
#include "activation_math.cuh"
#include "check.hpp"
#include "device_util.cuh"
#include "launch.hpp"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr index_t kWarpCols = 1024;  // longer rows take a whole block

template <Activation kAct>
__global__ void __launch_bounds__(kThreads)
    forward_kernel(index_t n, const float* x, float* y, bool vector) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  const index_t first = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  index_t scalar_from = 0;
  if (vector) {
    const index_t vectors = n / 4;
    for (index_t v = first; v < vectors; v += stride) {
      float4 a = reinterpret_cast<const float4*>(x)[v];
      a.x = detail::activate<kAct>(a.x);
      a.y = detail::activate<kAct>(a.y);
      a.z = detail::activate<kAct>(a.z);
      a.w = detail::activate<kAct>(a.w);
      reinterpret_cast<float4*>(y)[v] = a;
    }
    scalar_from = 4 * vectors;
  }
  for (index_t i = scalar_from + first; i < n; i += stride) y[i] = detail::activate<kAct>(x[i]);
}

template <Activation kAct>
__global__ void __launch_bounds__(kThreads)
    backward_kernel(index_t n, const float* x, const float* y, const float* dy, float* dx, bool vector) {
  constexpr bool kReadsInput = kAct == Activation::relu || kAct == Activation::gelu ||
                               kAct == Activation::gelu_tanh;
  constexpr bool kReadsOutput = kAct == Activation::sigmoid || kAct == Activation::tanh;
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  const index_t first = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  index_t scalar_from = 0;
  if (vector) {
    const index_t vectors = n / 4;
    for (index_t v = first; v < vectors; v += stride) {
      const float4 zero = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      const float4 a = kReadsInput ? reinterpret_cast<const float4*>(x)[v] : zero;
      const float4 b = kReadsOutput ? reinterpret_cast<const float4*>(y)[v] : zero;
      float4 g = reinterpret_cast<const float4*>(dy)[v];
      g.x = detail::activation_grad<kAct>(a.x, b.x, g.x);
      g.y = detail::activation_grad<kAct>(a.y, b.y, g.y);
      g.z = detail::activation_grad<kAct>(a.z, b.z, g.z);
      g.w = detail::activation_grad<kAct>(a.w, b.w, g.w);
      reinterpret_cast<float4*>(dx)[v] = g;
    }
    scalar_from = 4 * vectors;
  }
  for (index_t i = scalar_from + first; i < n; i += stride)
    dx[i] = detail::activation_grad<kAct>(kReadsInput ? x[i] : 0.0f, kReadsOutput ? y[i] : 0.0f, dy[i]);
}

constexpr bool reads_input(Activation act) {
  return act == Activation::relu || act == Activation::gelu || act == Activation::gelu_tanh;
}

template <class F>
void with_activation(Activation act, F&& f) {
  switch (act) {
    case Activation::none: f(std::integral_constant<Activation, Activation::none>{}); break;
    case Activation::relu: f(std::integral_constant<Activation, Activation::relu>{}); break;
    case Activation::sigmoid: f(std::integral_constant<Activation, Activation::sigmoid>{}); break;
    case Activation::tanh: f(std::integral_constant<Activation, Activation::tanh>{}); break;
    case Activation::gelu: f(std::integral_constant<Activation, Activation::gelu>{}); break;
    case Activation::gelu_tanh: f(std::integral_constant<Activation, Activation::gelu_tanh>{}); break;
  }
}

// ---- softmax ---------------------------------------------------------------------------

// A group of threads working one row: a warp (kBlock false) or the whole block.
template <bool kBlock>
struct RowGroup {
  __device__ static int rank() { return kBlock ? static_cast<int>(threadIdx.x) : static_cast<int>(threadIdx.x & 31); }
  __device__ static int size() { return kBlock ? static_cast<int>(blockDim.x) : 32; }
  __device__ static index_t first_row() {
    return kBlock ? static_cast<index_t>(blockIdx.x)
                  : static_cast<index_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  }
  __device__ static index_t row_stride() {
    return kBlock ? static_cast<index_t>(gridDim.x) : static_cast<index_t>(gridDim.x) * kWarps;
  }
  __device__ static float sum(float v, float* shared) { return kBlock ? detail::block_sum(v, shared) : detail::warp_sum(v); }
  __device__ static float max(float v, float* shared) { return kBlock ? detail::block_max(v, shared) : detail::warp_max(v); }
};

// Row passes over float4s (kVec: cols % 4 == 0 and every row 16-byte aligned) or floats.
// f(a, b) for each element of the group's share of the row, a and b read from two rows.
template <bool kVec, class G, class F>
__device__ __forceinline__ void row_read(const float* a, const float* b, index_t cols, F&& f) {
  if constexpr (kVec) {
    const float4* a4 = reinterpret_cast<const float4*>(a);
    const float4* b4 = reinterpret_cast<const float4*>(b);
    for (index_t k = G::rank(); k < cols / 4; k += G::size()) {
      const float4 u = a4[k], v = b ? b4[k] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      f(u.x, v.x), f(u.y, v.y), f(u.z, v.z), f(u.w, v.w);
    }
  } else {
    for (index_t k = G::rank(); k < cols; k += G::size()) f(a[k], b ? b[k] : 0.0f);
  }
}

// out[k] = f(a[k], b[k]) over the group's share of the row.
template <bool kVec, class G, class F>
__device__ __forceinline__ void row_write(const float* a, const float* b, float* out, index_t cols, F&& f) {
  if constexpr (kVec) {
    const float4* a4 = reinterpret_cast<const float4*>(a);
    const float4* b4 = reinterpret_cast<const float4*>(b);
    float4* o4 = reinterpret_cast<float4*>(out);
    for (index_t k = G::rank(); k < cols / 4; k += G::size()) {
      const float4 u = a4[k], v = b ? b4[k] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      o4[k] = make_float4(f(u.x, v.x), f(u.y, v.y), f(u.z, v.z), f(u.w, v.w));
    }
  } else {
    for (index_t k = G::rank(); k < cols; k += G::size()) out[k] = f(a[k], b ? b[k] : 0.0f);
  }
}

template <bool kBlock, bool kVec>
__global__ void __launch_bounds__(kThreads)
    softmax_rows_kernel(index_t rows, index_t cols, const float* x, float* y, bool log) {
  using G = RowGroup<kBlock>;
  KILN_SHARED(float, shared, [32]);
  for (index_t r = G::first_row(); r < rows; r += G::row_stride()) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float m = -INFINITY;
    row_read<kVec, G>(xr, nullptr, cols, [&](float v, float) { m = fmaxf(m, v); });
    m = G::max(m, shared);
    float s = 0.0f;
    row_read<kVec, G>(xr, nullptr, cols, [&](float v, float) { s = __fadd_rn(s, expf(__fsub_rn(v, m))); });
    s = G::sum(s, shared);
    if (log) {
      const float log_s = logf(s);
      row_write<kVec, G>(xr, nullptr, yr, cols, [&](float v, float) { return __fsub_rn(__fsub_rn(v, m), log_s); });
    } else {
      const float inv = __fdiv_rn(1.0f, s);
      row_write<kVec, G>(xr, nullptr, yr, cols, [&](float v, float) { return __fmul_rn(expf(__fsub_rn(v, m)), inv); });
    }
  }
}

template <bool kBlock, bool kVec>
__global__ void __launch_bounds__(kThreads)
    softmax_backward_rows_kernel(index_t rows, index_t cols, const float* y, const float* dy, float* dx,
                                 bool log) {
  using G = RowGroup<kBlock>;
  KILN_SHARED(float, shared, [32]);
  for (index_t r = G::first_row(); r < rows; r += G::row_stride()) {
    const float* yr = y + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    float s = 0.0f;
    row_read<kVec, G>(dyr, yr, cols, [&](float d, float v) { s = __fadd_rn(s, log ? d : __fmul_rn(d, v)); });
    s = G::sum(s, shared);
    row_write<kVec, G>(dyr, yr, dxr, cols, [&](float d, float v) {
      return log ? __fsub_rn(d, __fmul_rn(expf(v), s)) : __fmul_rn(v, __fsub_rn(d, s));
    });
  }
}

// Rows of stride `inner`: row (o, i) starts at o * cols * inner + i.
__global__ void __launch_bounds__(kThreads)
    softmax_strided_kernel(index_t outer, index_t cols, index_t inner, const float* x, float* y, bool log) {
  const index_t rows = outer * inner, stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t r = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += stride) {
    const index_t o = static_cast<unsigned>(r) / static_cast<unsigned>(inner), i = r - o * inner;  // r < 2^31
    const float* xr = x + o * cols * inner + i;
    float* yr = y + o * cols * inner + i;
    float m = -INFINITY;
    for (index_t k = 0; k < cols; ++k) m = fmaxf(m, xr[k * inner]);
    float s = 0.0f;
    for (index_t k = 0; k < cols; ++k) s = __fadd_rn(s, expf(__fsub_rn(xr[k * inner], m)));
    if (log) {
      const float log_s = logf(s);
      for (index_t k = 0; k < cols; ++k) yr[k * inner] = __fsub_rn(__fsub_rn(xr[k * inner], m), log_s);
    } else {
      const float inv = __fdiv_rn(1.0f, s);
      for (index_t k = 0; k < cols; ++k) yr[k * inner] = __fmul_rn(expf(__fsub_rn(xr[k * inner], m)), inv);
    }
  }
}

__global__ void __launch_bounds__(kThreads)
    softmax_backward_strided_kernel(index_t outer, index_t cols, index_t inner, const float* y,
                                    const float* dy, float* dx, bool log) {
  const index_t rows = outer * inner, stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t r = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += stride) {
    const index_t o = static_cast<unsigned>(r) / static_cast<unsigned>(inner), i = r - o * inner, base = o * cols * inner + i;
    float s = 0.0f;
    for (index_t k = 0; k < cols; ++k) {
      const index_t e = base + k * inner;
      s = __fadd_rn(s, log ? dy[e] : __fmul_rn(dy[e], y[e]));
    }
    for (index_t k = 0; k < cols; ++k) {
      const index_t e = base + k * inner;
      dx[e] = log ? __fsub_rn(dy[e], __fmul_rn(expf(y[e]), s)) : __fmul_rn(y[e], __fsub_rn(dy[e], s));
    }
  }
}

// A warp per row up to kWarpCols columns, a block per row past that; float4s or floats.
template <class F>
void with_row_kernel(index_t cols, bool vec, F&& f) {
  using T = std::true_type;
  using N = std::false_type;
  if (cols > kWarpCols) {
    if (vec) f(T{}, T{}); else f(T{}, N{});
  } else {
    if (vec) f(N{}, T{}); else f(N{}, N{});
  }
}

dim3 row_grid(index_t rows, index_t cols) {
  return dim3(cols > kWarpCols ? detail::grid_for(rows, 1, 32) : detail::grid_for(rows, kWarps));
}

void check_view(const char* fn, index_t outer, index_t cols, index_t inner) {
  KILN_CHECK(outer >= 0 && cols >= 0 && inner >= 0,
             fn << ": sizes must be >= 0, got outer=" << outer << " cols=" << cols << " inner=" << inner);
  kiln::detail::checked_size(fn, "x", outer, cols, inner);
}

std::string view_sizes(index_t outer, index_t cols, index_t inner) {
  return "outer=" + std::to_string(outer) + " cols=" + std::to_string(cols) + " inner=" + std::to_string(inner);
}

}  // namespace

void activation_forward(Activation act, index_t n, const float* x, float* y, cudaStream_t stream) {
  constexpr const char* kFn = "activation_forward";
  kiln::detail::check_activation(act, kFn);
  KILN_CHECK(n >= 0, kFn << ": n must be >= 0, got " << n);
  kiln::detail::checked_size(kFn, "x", n);
  if (n == 0) return;
  KILN_CHECK(x && y, kFn << ": x and y must not be null");
  const bool vector = detail::aligned16(x) && detail::aligned16(y);
  const dim3 grid(detail::grid_for(vector ? (n + 3) / 4 : n, kThreads));
  cudaError_t error = cudaSuccess;
  with_activation(act, [&](auto a) {
    error = launch(forward_kernel<decltype(a)::value>, grid, dim3(kThreads), 0, stream, n, x, y, vector);
  });
  detail::throw_if_failed(error, kFn, std::string(activation_name(act)) + ", n=" + std::to_string(n));
}

void activation_backward(Activation act, index_t n, const float* x, const float* y, const float* dy,
                         float* dx, cudaStream_t stream) {
  constexpr const char* kFn = "activation_backward";
  kiln::detail::check_activation(act, kFn);
  KILN_CHECK(n >= 0, kFn << ": n must be >= 0, got " << n);
  kiln::detail::checked_size(kFn, "dy", n);
  if (n == 0) return;
  KILN_CHECK(dy && dx, kFn << ": dy and dx must not be null");
  KILN_CHECK(act == Activation::none || (reads_input(act) ? x != nullptr : y != nullptr),
             kFn << ": " << activation_name(act) << " needs "
                 << (reads_input(act) ? "its input x" : "its output y"));
  const bool vector = detail::aligned16(dy) && detail::aligned16(dx) &&
                      (!x || detail::aligned16(x)) && (!y || detail::aligned16(y));
  const dim3 grid(detail::grid_for(vector ? (n + 3) / 4 : n, kThreads));
  cudaError_t error = cudaSuccess;
  with_activation(act, [&](auto a) {
    error = launch(backward_kernel<decltype(a)::value>, grid, dim3(kThreads), 0, stream, n, x, y, dy, dx,
                   vector);
  });
  detail::throw_if_failed(error, kFn, std::string(activation_name(act)) + ", n=" + std::to_string(n));
}

void softmax_forward(index_t outer, index_t cols, index_t inner, const float* x, float* y, bool log,
                     cudaStream_t stream) {
  constexpr const char* kFn = "softmax_forward";
  check_view(kFn, outer, cols, inner);
  if (outer == 0 || cols == 0 || inner == 0) return;
  KILN_CHECK(x && y, kFn << ": x and y must not be null");
  cudaError_t error;
  if (inner > 1) {
    error = launch(softmax_strided_kernel, dim3(detail::grid_for(outer * inner, kThreads)), dim3(kThreads), 0,
                   stream, outer, cols, inner, x, y, log);
  } else {
    const bool vec = cols % 4 == 0 && detail::aligned16(x) && detail::aligned16(y);
    with_row_kernel(cols, vec, [&](auto block, auto v) {
      error = launch(softmax_rows_kernel<decltype(block)::value, decltype(v)::value>, row_grid(outer, cols),
                     dim3(kThreads), 0, stream, outer, cols, x, y, log);
    });
  }
  detail::throw_if_failed(error, kFn, view_sizes(outer, cols, inner));
}

void softmax_backward(index_t outer, index_t cols, index_t inner, const float* y, const float* dy,
                      float* dx, bool log, cudaStream_t stream) {
  constexpr const char* kFn = "softmax_backward";
  check_view(kFn, outer, cols, inner);
  if (outer == 0 || cols == 0 || inner == 0) return;
  KILN_CHECK(y && dy && dx, kFn << ": y, dy and dx must not be null");
  cudaError_t error;
  if (inner > 1) {
    error = launch(softmax_backward_strided_kernel, dim3(detail::grid_for(outer * inner, kThreads)),
                   dim3(kThreads), 0, stream, outer, cols, inner, y, dy, dx, log);
  } else {
    const bool vec = cols % 4 == 0 && detail::aligned16(y) && detail::aligned16(dy) && detail::aligned16(dx);
    with_row_kernel(cols, vec, [&](auto block, auto v) {
      error = launch(softmax_backward_rows_kernel<decltype(block)::value, decltype(v)::value>,
                     row_grid(outer, cols), dim3(kThreads), 0, stream, outer, cols, y, dy, dx, log);
    });
  }
  detail::throw_if_failed(error, kFn, view_sizes(outer, cols, inner));
}

}  // namespace kiln::cuda
