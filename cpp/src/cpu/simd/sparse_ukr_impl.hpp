// Internal: the loops of sparse_matmul (contract in ../sparse_ukr.hpp) written once over a
// vector type (simd/vec_avx2.hpp, simd/vec_avx512.hpp), instantiated in one file per ISA.
//
// A CSR row times W keeps a block of up to 8 vectors of outputs in accumulators while it
// walks the row's terms, so y is read and written once per block, not once per term.
// The last vector of a row is masked rather than finished in scalar code: every element
// gets the same fused multiply-add, wherever the row's end falls.
#pragma once

#include <cstdint>

#include "../sparse_ukr.hpp"

namespace kiln::detail::simd {

constexpr int kSparseBlockVectors = 8;

// NV vectors of y from column 0 on; with Tail, the last one holds only `tail` lanes.
template <class Vec, int NV, bool Tail>
void sparse_row_block(index_t terms, const std::int32_t* __restrict idx,
                      const float* __restrict val, const float* __restrict w, index_t ldw,
                      float* __restrict y, index_t tail) {
  constexpr index_t lanes = Vec::kLanes;
  const auto load = [tail](const float* p, int v) {
    return (Tail && v == NV - 1) ? Vec::load_partial(p + v * lanes, tail) : Vec::load(p + v * lanes);
  };
  Vec acc[NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) acc[v] = load(y, v);
  for (index_t t = 0; t < terms; ++t) {
    const float* wr = w + static_cast<index_t>(idx[t]) * ldw;
    const Vec a = Vec::set1(val[t]);
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[v] = fmadd(a, load(wr, v), acc[v]);
  }
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    if (Tail && v == NV - 1) {
      Vec::store_partial(y + v * lanes, acc[v], tail);
    } else {
      Vec::store(y + v * lanes, acc[v]);
    }
  }
}

// The last, partial block of a row: nv (1..8) vectors.
template <class Vec, bool Tail>
void sparse_row_rest(int nv, index_t terms, const std::int32_t* idx, const float* val,
                     const float* w, index_t ldw, float* y, index_t tail) {
  switch (nv) {
    case 1: return sparse_row_block<Vec, 1, Tail>(terms, idx, val, w, ldw, y, tail);
    case 2: return sparse_row_block<Vec, 2, Tail>(terms, idx, val, w, ldw, y, tail);
    case 3: return sparse_row_block<Vec, 3, Tail>(terms, idx, val, w, ldw, y, tail);
    case 4: return sparse_row_block<Vec, 4, Tail>(terms, idx, val, w, ldw, y, tail);
    case 5: return sparse_row_block<Vec, 5, Tail>(terms, idx, val, w, ldw, y, tail);
    case 6: return sparse_row_block<Vec, 6, Tail>(terms, idx, val, w, ldw, y, tail);
    case 7: return sparse_row_block<Vec, 7, Tail>(terms, idx, val, w, ldw, y, tail);
    default: return sparse_row_block<Vec, 8, Tail>(terms, idx, val, w, ldw, y, tail);
  }
}

template <class Vec>
void sparse_row(index_t terms, const std::int32_t* idx, const float* val, const float* w,
                index_t ldw, index_t n, float* y) {
  constexpr index_t lanes = Vec::kLanes, block = kSparseBlockVectors * lanes;
  index_t j = 0;
  for (; j + block <= n; j += block)
    sparse_row_block<Vec, kSparseBlockVectors, false>(terms, idx, val, w + j, ldw, y + j, 0);
  const index_t rest = n - j;
  if (rest == 0) return;
  const int nv = static_cast<int>((rest + lanes - 1) / lanes);
  if (rest % lanes == 0) {
    sparse_row_rest<Vec, false>(nv, terms, idx, val, w + j, ldw, y + j, 0);
  } else {
    sparse_row_rest<Vec, true>(nv, terms, idx, val, w + j, ldw, y + j, rest % lanes);
  }
}

template <class Vec>
void axpy(index_t n, float a, const float* __restrict x, float* __restrict y) {
  constexpr index_t lanes = Vec::kLanes;
  const Vec va = Vec::set1(a);
  index_t j = 0;
  for (; j + 2 * lanes <= n; j += 2 * lanes) {
    const Vec y0 = fmadd(va, Vec::load(x + j), Vec::load(y + j));
    const Vec y1 = fmadd(va, Vec::load(x + j + lanes), Vec::load(y + j + lanes));
    Vec::store(y + j, y0);
    Vec::store(y + j + lanes, y1);
  }
  for (; j < n; j += lanes) {
    const index_t count = n - j < lanes ? n - j : lanes;
    Vec::store_partial(y + j, fmadd(va, Vec::load_partial(x + j, count), Vec::load_partial(y + j, count)),
                       count);
  }
}

}  // namespace kiln::detail::simd
