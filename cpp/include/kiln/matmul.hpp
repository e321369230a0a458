// kiln: matrix product with a fused epilogue, plain and batched.
//
//   C[b] = act(alpha * op(A[b]) @ op(B[b]) + beta * C[b] + bias)      for b < batch
//
//   op(A[b]) is (m, k): A[b] is stored (m, k), or (k, m) when transpose_a
//   op(B[b]) is (k, n): B[b] is stored (k, n), or (n, k) when transpose_b
//   C[b] is (m, n); bias is (n,) or null, added to every row (as nn.Linear)
//
// Each operand is row-major with a leading dimension (elements between rows as
// stored, at least its row length), so row-strided views need no copy. Matrices
// of a batch lie batch_stride_* elements apart; a batch stride of 0 for A or B
// broadcasts one matrix over the batch. With beta == 0, C is not read (it may
// hold NaN or garbage). With k == 0, the product is zero.
#pragma once

#include "kiln/common.hpp"

namespace kiln {

struct MatmulParams {
  index_t batch = 1;
  index_t m = 0, n = 0, k = 0;
  bool transpose_a = false;
  bool transpose_b = false;
  index_t lda = 0, ldb = 0, ldc = 0;
  index_t batch_stride_a = 0, batch_stride_b = 0, batch_stride_c = 0;
  float alpha = 1.0f;
  float beta = 0.0f;
  Activation activation = Activation::none;
};

// Params for dense row-major operands, each batch stored back to back.
MatmulParams matmul_params(index_t m, index_t n, index_t k, bool transpose_a = false,
                           bool transpose_b = false, index_t batch = 1);

void matmul(const MatmulParams& p, const float* a, const float* b, const float* bias, float* c);

}  // namespace kiln
