// kiln: sparse (CSR) times dense matrix product, and its weight gradient.
//
//   X is (m, k) in CSR form: indptr (m + 1,) int64, indices (nnz,) int32, data (nnz,) float32.
//     Row i holds the entries p in [indptr[i], indptr[i+1]): X[i, indices[p]] += data[p].
//     Column indices may be unsorted and may repeat (repeats add, as in SciPy).
//   W is (k, n) row-major, or (n, k) when transpose_w (nn.Linear's out-by-in weight).
//
//   sparse_matmul:                  Y (m, n)  = X @ op(W) + bias + beta * Y
//   sparse_matmul_backward_weight:  dW (k, n) = X^T @ dY + beta * dW     (dY is (m, n))
//                                   or, with transpose_w, dW (n, k) = dY^T @ X + beta * dW
//
// bias is (n,) or null. With beta == 0 the output is not read (it may hold NaN).
// indices are int32 because one operand never exceeds kMaxElements (so k fits), and
// they are the bulk of a CSR batch: half the bytes of int64.
//
// Every entry of the structure is checked (indptr starts at 0, never decreases, ends
// at nnz; every index is in [0, k)) before anything is written; a violation is an
// std::invalid_argument. Results are bit-identical for any thread count: each output
// element sums its terms in the order the entries are stored.
#pragma once

#include <cstdint>

#include "kiln/common.hpp"

namespace kiln {

struct CsrMatrix {
  index_t rows = 0, cols = 0;  // m, k
  index_t nnz = 0;
  const std::int64_t* indptr = nullptr;  // (rows + 1,)
  const std::int32_t* indices = nullptr;  // (nnz,)
  const float* data = nullptr;           // (nnz,)
};

void sparse_matmul(const CsrMatrix& x, index_t n, const float* w, bool transpose_w,
                   const float* bias, float beta, float* y);

void sparse_matmul_backward_weight(const CsrMatrix& x, index_t n, const float* grad_y,
                                   bool transpose_w, float beta, float* grad_w);

}  // namespace kiln
