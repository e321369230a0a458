// Internal: the GEMM engine every kernel builds on (matmul, conv2d, LSTM).
//
//   C = act(alpha * A @ B + beta * C + bias)
//
// A is (m, k) with element (i, p) at a[i * a_rs + p * a_cs]; B is (k, n) likewise;
// C is (m, n) with unit column stride and row stride ldc. Strides express
// transposes without copies: packing reads either layout.
#pragma once

#include "kiln/common.hpp"

namespace kiln::detail {

struct StridedMatrix {
  const float* data;
  index_t row_stride, col_stride;
};

enum class BiasAxis { none, per_column, per_row };

struct GemmEpilogue {
  const float* bias = nullptr;  // (n,) per_column, (m,) per_row
  BiasAxis bias_axis = BiasAxis::none;
  Activation activation = Activation::none;
};

// nthreads <= 0: pick from the size (threads_for); 1 when called inside a parallel region.
void gemm(index_t m, index_t n, index_t k, float alpha, StridedMatrix a, StridedMatrix b,
          float beta, float* c, index_t ldc, const GemmEpilogue& epilogue = {},
          int nthreads = 0);

}  // namespace kiln::detail
