// kiln CUDA: CSR times dense on the device, and its weight gradient (kiln/sparse_matmul.hpp).
//
//   X (m, k) CSR: indptr (m + 1,) int64, indices (nnz,) int32, data (nnz,) float32
//   W (k, n), or (n, k) with transpose_w;  bias (n,) or null;  Y, dY (m, n)
//   sparse_matmul:                 Y = X @ op(W) + bias + beta * Y   (beta == 0: Y not read)
//   sparse_matmul_backward_weight: dW (k, n) = X^T @ dY + beta * dW, or (n, k) transposed
//
// All pointers, CsrMatrix's included, are device pointers. The CPU's checks, the CSR
// structure's on the device (indptr[0] == 0, never decreasing, indptr[m] == nnz, every
// index in [0, k)) with the CPU's messages: the host reads the verdict back, so each call
// synchronises with `stream` once before it launches the product.
// The forward pass adds each output's terms in storage order with fused multiply-adds,
// as the CPU's vector kernel does; the weight gradient adds them with atomicAdd, whose
// order (and so the last bits of a sum over repeated columns) may vary.
#pragma once

#include "kiln/common.hpp"
#include "kiln/cuda/runtime.hpp"
#include "kiln/sparse_matmul.hpp"

namespace kiln::cuda {

void sparse_matmul(const CsrMatrix& x, index_t n, const float* w, bool transpose_w,
                   const float* bias, float beta, float* y, cudaStream_t stream = 0);

void sparse_matmul_backward_weight(const CsrMatrix& x, index_t n, const float* grad_y,
                                   bool transpose_w, float beta, float* grad_w,
                                   cudaStream_t stream = 0);

// The structure checks alone (std::invalid_argument naming `fn`), synchronising.
void check_csr(const char* fn, const CsrMatrix& x, cudaStream_t stream = 0);

}  // namespace kiln::cuda
