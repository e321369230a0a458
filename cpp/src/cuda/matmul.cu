// kiln CUDA: matmul (kiln/cuda/matmul.hpp) on the tiled GEMM engines.
//
// op(A) and op(B) are strided operands (a transpose is a choice of stride, never a copy);
// the epilogue applies alpha, beta * C, the bias and the activation in registers before
// the one store of C. Float32 runs on the SIMT engine (gemm_tile.cuh), TF32 on the tensor
// cores (gemm_tf32.cuh), both over the same operands and epilogue.
#include "kiln/cuda/matmul.hpp"

#include <string>

#include "../cpu/matmul_check.hpp"
#include "check.hpp"
#include "gemm_epilogue.cuh"
#include "gemm_tf32.cuh"
#include "gemm_tile.cuh"

namespace kiln::cuda {

void matmul(const MatmulParams& p, const float* a, const float* b, const float* bias, float* c,
            cudaStream_t stream, bool allow_tf32, float* workspace) {
  if (!kiln::detail::matmul_check(p, a, b, c)) return;
  using namespace detail;
  // A (rows m, depth k): stored (m, k), or (k, m) when transposed. B (rows n, depth k):
  // stored (k, n), or (n, k) when transposed.
  const MatrixOperand oa = matrix_operand(a, p.m, p.k, p.lda, !p.transpose_a, p.batch_stride_a);
  const MatrixOperand ob = matrix_operand(b, p.n, p.k, p.ldb, p.transpose_b, p.batch_stride_b);
  LinearEpilogue ep;
  ep.c = c;
  ep.ldc = p.ldc;
  ep.batch_stride_c = p.batch_stride_c;
  ep.alpha = p.alpha;
  ep.beta = p.beta;
  ep.bias = bias;
  ep.bias_axis = bias ? BiasAxis::per_column : BiasAxis::none;
  ep.activation = p.activation;
  ep.vector_ok = vector_aligned(c) && p.ldc % 4 == 0 && p.batch_stride_c % 4 == 0;
  const cudaError_t error = allow_tf32 && p.k > 0
                                ? gemm_tf32(p.m, p.n, p.k, p.batch, oa, ob, ep, stream)
                                : gemm_simt(p.m, p.n, p.k, p.batch, oa, ob, ep, stream, workspace,
                                            workspace ? matmul_workspace(p) : 0);
  throw_if_failed(error, allow_tf32 ? "matmul (tf32)" : "matmul",
                  "batch=" + std::to_string(p.batch) + " m=" + std::to_string(p.m) +
                      " n=" + std::to_string(p.n) + " k=" + std::to_string(p.k));
}

index_t matmul_workspace(const MatmulParams& p) {
  return detail::gemm_workspace(p.m, p.n, p.k, p.batch);
}

}  // namespace kiln::cuda
