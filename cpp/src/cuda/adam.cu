// kiln CUDA: adam_step over a flat buffer in one launch (kiln/cuda/adam.hpp).
//
//   param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq: (n,) each, distinct device buffers
//
// Memory-bound: 28 bytes per element (36 with amsgrad), each read and written once, so
// the kernel moves 16-byte float4s in a grid-stride loop over a grid that fills the
// device once (kBlocksPerMultiprocessor blocks of kThreads per multiprocessor). The
// buffers need not be 16-byte aligned: when all of them sit at the same offset from a
// 16-byte boundary, the elements before it (the head) and after the last whole float4
// (the tail) take the scalar path; when their offsets differ, every element does.
// Each element takes exactly the arithmetic of the CPU's vector kernels
// (cpp/src/cpu/simd/adam_impl.hpp), with the fusions written out (__fmaf_rn) and every
// other operation correctly rounded (__fmul_rn, __fdiv_rn, __fsqrt_rn: nvcc neither
// fuses nor approximates them), so the two devices agree bit for bit.
#include "kiln/cuda/adam.hpp"

#include <cstdint>
#include <string>

#include "../cpu/adam_kernel.hpp"
#include "../cpu/check.hpp"
#include "check.hpp"
#include "grid.hpp"
#include "launch.hpp"

namespace kiln::cuda {
namespace {

using kiln::detail::AdamDecay;
using kiln::detail::AdamScalars;

constexpr int kThreads = 256;
constexpr int kBlocksPerMultiprocessor = 8;

// The kernel's typed parameters besides the scalars: the buffers, the element count, and
// how it splits into head, float4s and tail.
struct AdamBuffers {
  float* param;
  const float* grad;
  float* exp_avg;
  float* exp_avg_sq;
  float* max_exp_avg_sq;  // amsgrad only
  index_t n;
  index_t head;     // scalar elements before the first float4
  index_t vectors;  // float4s after the head
};

// torch.maximum: NaN in either argument wins.
__device__ __forceinline__ float max_nan(float a, float b) { return (a != a || a > b) ? a : b; }

template <AdamDecay kDecay, bool kAmsgrad>
__device__ __forceinline__ void adam_update(const AdamScalars& s, float& param, float grad,
                                            float& exp_avg, float& exp_avg_sq,
                                            float& max_exp_avg_sq) {
  float p = param;
  float g = s.maximize ? -grad : grad;
  if constexpr (kDecay == AdamDecay::coupled) g = __fmaf_rn(s.weight_decay, p, g);
  if constexpr (kDecay == AdamDecay::decoupled) p = __fmul_rn(p, s.decay_factor);
  const float m = __fmaf_rn(s.beta1, exp_avg, __fmul_rn(s.one_minus_beta1, g));
  const float v = __fmaf_rn(s.beta2, exp_avg_sq, __fmul_rn(s.one_minus_beta2, __fmul_rn(g, g)));
  exp_avg = m;
  exp_avg_sq = v;
  float v_used = v;
  if constexpr (kAmsgrad) {
    v_used = max_nan(max_exp_avg_sq, v);
    max_exp_avg_sq = v_used;
  }
  const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(v_used), s.bias_correction2_sqrt), s.eps);
  param = __fmaf_rn(-s.step_size, __fdiv_rn(m, denom), p);
}

template <AdamDecay kDecay, bool kAmsgrad>
__global__ void __launch_bounds__(kThreads) adam_kernel(AdamScalars s, AdamBuffers b) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  const index_t first = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (index_t v = first; v < b.vectors; v += stride) {
    const index_t i = b.head + 4 * v;
    float4 p = *reinterpret_cast<const float4*>(b.param + i);
    const float4 g = __ldg(reinterpret_cast<const float4*>(b.grad + i));
    float4 m = *reinterpret_cast<const float4*>(b.exp_avg + i);
    float4 q = *reinterpret_cast<const float4*>(b.exp_avg_sq + i);
    float4 mx = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if constexpr (kAmsgrad) mx = *reinterpret_cast<const float4*>(b.max_exp_avg_sq + i);
    adam_update<kDecay, kAmsgrad>(s, p.x, g.x, m.x, q.x, mx.x);
    adam_update<kDecay, kAmsgrad>(s, p.y, g.y, m.y, q.y, mx.y);
    adam_update<kDecay, kAmsgrad>(s, p.z, g.z, m.z, q.z, mx.z);
    adam_update<kDecay, kAmsgrad>(s, p.w, g.w, m.w, q.w, mx.w);
    *reinterpret_cast<float4*>(b.param + i) = p;
    *reinterpret_cast<float4*>(b.exp_avg + i) = m;
    *reinterpret_cast<float4*>(b.exp_avg_sq + i) = q;
    if constexpr (kAmsgrad) *reinterpret_cast<float4*>(b.max_exp_avg_sq + i) = mx;
  }
  // The head, then the tail, one element per thread.
  const index_t tail_first = b.head + 4 * b.vectors;
  const index_t scalars = b.head + (b.n - tail_first);
  for (index_t k = first; k < scalars; k += stride) {
    const index_t i = k < b.head ? k : tail_first + (k - b.head);
    float unused = 0.0f;
    adam_update<kDecay, kAmsgrad>(s, b.param[i], __ldg(b.grad + i), b.exp_avg[i], b.exp_avg_sq[i],
                                  kAmsgrad ? b.max_exp_avg_sq[i] : unused);
  }
}

// The offset of p from the 16-byte boundary below it, in bytes.
unsigned misalignment(const void* p) {
  return static_cast<unsigned>(reinterpret_cast<std::uintptr_t>(p) & 15u);
}

}  // namespace

void adam_step(const AdamParams& p, index_t n, float* param, const float* grad, float* exp_avg,
               float* exp_avg_sq, float* max_exp_avg_sq, cudaStream_t stream) {
  constexpr const char* kFn = "adam_step";
  const AdamScalars s = kiln::detail::adam_scalars(p, n, max_exp_avg_sq, kFn);
  if (n == 0) return;
  KILN_CHECK(param && grad && exp_avg && exp_avg_sq,
             kFn << ": param, grad, exp_avg and exp_avg_sq must not be null");

  AdamBuffers b{param, grad, exp_avg, exp_avg_sq, p.amsgrad ? max_exp_avg_sq : nullptr, n, n, 0};
  const unsigned offset = misalignment(param);
  const bool same_offset = offset % 4 == 0 && misalignment(grad) == offset &&
                           misalignment(exp_avg) == offset && misalignment(exp_avg_sq) == offset &&
                           (!p.amsgrad || misalignment(max_exp_avg_sq) == offset);
  if (same_offset) {
    b.head = offset == 0 ? 0 : (16 - offset) / 4;
    if (b.head > n) b.head = n;
    b.vectors = (n - b.head) / 4;
  }
  const index_t scalars = n - 4 * b.vectors;  // head and tail
  const index_t work = b.vectors > scalars ? b.vectors : scalars;
  const unsigned blocks = detail::grid_stride_blocks(work, kThreads, kBlocksPerMultiprocessor);

  cudaError_t error = cudaSuccess;
  kiln::detail::with_adam_flags(s, [&](auto decay, auto amsgrad) {
    error = launch(adam_kernel<decltype(decay)::value, decltype(amsgrad)::value>, dim3(blocks),
                   dim3(kThreads), 0, stream, s, b);
  });
  detail::throw_if_failed(error, kFn, "n=" + std::to_string(n));
}

}  // namespace kiln::cuda
