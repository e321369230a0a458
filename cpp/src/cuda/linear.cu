// kiln CUDA: linear_backward (kiln/cuda/linear.hpp).
//
// dz = dy * act'(y) is one memory-bound pass (float4s in a grid-stride loop where the
// three buffers are 16-byte aligned); dx, dw are GEMMs over dz read in place through
// strides; db sums dz's columns (bias_grad.cu).
#include "kiln/cuda/linear.hpp"

#include <string>

#include "../cpu/check.hpp"
#include "../cpu/linear_check.hpp"
#include "bias_grad.hpp"
#include "check.hpp"
#include "gemm_epilogue.cuh"
#include "gemm_tile.cuh"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 256;

// relu passes dy where y > 0 and 0 elsewhere (a NaN dy included), as the CPU kernel.
__device__ __forceinline__ float dz_of(Activation act, float y, float dy) {
  if (act == Activation::relu) return y > 0.0f ? dy : 0.0f;
  return dy * detail::epilogue_math::derivative_from_output(act, y);
}

__global__ void __launch_bounds__(kThreads)
    activation_grad_kernel(Activation act, index_t n, bool vector, const float* y, const float* dy,
                           float* dz) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  const index_t first = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  index_t scalar_from = 0;
  if (vector) {
    const index_t quads = n / 4;
    for (index_t q = first; q < quads; q += stride) {
      const float4 yv = __ldg(reinterpret_cast<const float4*>(y) + q);
      const float4 g = __ldg(reinterpret_cast<const float4*>(dy) + q);
      reinterpret_cast<float4*>(dz)[q] = make_float4(dz_of(act, yv.x, g.x), dz_of(act, yv.y, g.y),
                                                     dz_of(act, yv.z, g.z), dz_of(act, yv.w, g.w));
    }
    scalar_from = 4 * quads;
  }
  for (index_t i = scalar_from + first; i < n; i += stride) dz[i] = dz_of(act, y[i], dy[i]);
}

}  // namespace

void linear_backward(const LinearBackwardParams& p, const float* x, const float* w, const float* y,
                     const float* dy, float* scratch, float* dx, float* dw, float* db,
                     cudaStream_t stream, float* workspace) {
  constexpr const char* kFn = "linear_backward";
  kiln::detail::linear_backward_check(p);
  const index_t m = p.m, in = p.in_features, out = p.out_features;
  const index_t elements = kiln::detail::checked_size(kFn, "y", m, out);
  kiln::detail::checked_size(kFn, "x", m, in);
  kiln::detail::checked_size(kFn, "w", in, out);
  const std::string sizes =
      "m=" + std::to_string(m) + " in=" + std::to_string(in) + " out=" + std::to_string(out);
  using namespace detail;

  const float* dz = dy;
  if (p.activation != Activation::none && elements > 0) {
    KILN_CHECK(scratch && y && dy, kFn << ": y, dy and scratch are needed for activation "
                                       << activation_name(p.activation));
    const bool vector = vector_aligned(y) && vector_aligned(dy) && vector_aligned(scratch);
    const index_t work = vector ? elements / 4 + 3 : elements;
    const index_t max_blocks = 8 * static_cast<index_t>(multiprocessor_count());
    index_t blocks = (work + kThreads - 1) / kThreads;
    if (blocks > max_blocks) blocks = max_blocks;
    throw_if_failed(launch(activation_grad_kernel, dim3(static_cast<unsigned>(blocks)),
                           dim3(kThreads), 0, stream, p.activation, elements, vector, y, dy, scratch),
                    "linear_backward (activation gradient)", sizes);
    dz = scratch;
  }
  if (db) throw_if_failed(column_sums(m, out, dz, out, db, stream), "linear_backward (db)", sizes);

  LinearEpilogue ep;  // overwrite: alpha 1, beta 0
  if (dx && m > 0 && in > 0) {  // dx (m, in) = dz (m, out) @ op(w)^T
    const MatrixOperand a = matrix_operand(dz, m, out, out, true);
    const MatrixOperand b = p.weight_is_out_by_in ? matrix_operand(w, in, out, in, false)
                                                  : matrix_operand(w, in, out, out, true);
    ep.c = dx;
    ep.ldc = in;
    ep.vector_ok = vector_aligned(dx) && in % 4 == 0;
    throw_if_failed(gemm_simt(m, in, out, 1, a, b, ep, stream), "linear_backward (dx)", sizes);
  }
  if (dw && in > 0 && out > 0) {
    // out_by_in: dw (out, in) = dz^T @ x; else dw (in, out) = x^T @ dz. Both operands are
    // read down their columns (row-contiguous along the GEMM's rows).
    const MatrixOperand dz_t = matrix_operand(dz, out, m, out, false);
    const MatrixOperand x_t = matrix_operand(x, in, m, in, false);
    const bool out_by_in = p.weight_is_out_by_in;
    ep.c = dw;
    ep.ldc = out_by_in ? in : out;
    ep.vector_ok = vector_aligned(dw) && ep.ldc % 4 == 0;
    const index_t floats = workspace ? linear_backward_workspace(p) : 0;
    const cudaError_t e = out_by_in ? gemm_simt(out, in, m, 1, dz_t, x_t, ep, stream, workspace, floats)
                                    : gemm_simt(in, out, m, 1, x_t, dz_t, ep, stream, workspace, floats);
    throw_if_failed(e, "linear_backward (dw)", sizes);
  }
}

index_t linear_backward_workspace(const LinearBackwardParams& p) {
  return p.m < 0 || p.in_features < 0 || p.out_features < 0
             ? 0
             : detail::gemm_workspace(p.out_features, p.in_features, p.m, 1);
}

}  // namespace kiln::cuda
