// Internal: the vector loops of sparse_matmul, one set per ISA (see dispatch.cpp).
//
// Contract (every ISA): each output element is updated by one multiply-add per term,
// in term order, whatever n is and wherever the block or band boundaries fall, so a
// result does not depend on how the caller splits n among threads. The portable
// versions are the reference the others are tested against.
#pragma once

#include <cstdint>

#include "kiln/common.hpp"

namespace kiln::detail {

// y[0:n] += sum over t < terms of val[t] * w[idx[t] * ldw + 0:n]   (one CSR row times W)
using SparseRowKernel = void (*)(index_t terms, const std::int32_t* idx, const float* val,
                                 const float* w, index_t ldw, index_t n, float* y);
// y[0:n] += a * x[0:n]
using AxpyKernel = void (*)(index_t n, float a, const float* x, float* y);

inline void sparse_row_portable(index_t terms, const std::int32_t* __restrict idx,
                                const float* __restrict val, const float* __restrict w,
                                index_t ldw, index_t n, float* __restrict y) {
  for (index_t t = 0; t < terms; ++t) {
    const float a = val[t];
    const float* __restrict wr = w + static_cast<index_t>(idx[t]) * ldw;
    for (index_t j = 0; j < n; ++j) y[j] += a * wr[j];
  }
}

inline void axpy_portable(index_t n, float a, const float* __restrict x, float* __restrict y) {
  for (index_t j = 0; j < n; ++j) y[j] += a * x[j];
}

void sparse_row_avx2(index_t terms, const std::int32_t* idx, const float* val, const float* w,
                     index_t ldw, index_t n, float* y);
void axpy_avx2(index_t n, float a, const float* x, float* y);
void sparse_row_avx512(index_t terms, const std::int32_t* idx, const float* val, const float* w,
                       index_t ldw, index_t n, float* y);
void axpy_avx512(index_t n, float a, const float* x, float* y);

}  // namespace kiln::detail
