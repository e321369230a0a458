// Internal: the GEMM engine every kernel builds on (matmul, conv2d, LSTM).
//
//   C = act(alpha * A @ B + beta * C + bias)
//
// A is (m, k) with element (i, p) at a[i * a_rs + p * a_cs]; B is (k, n) likewise;
// C is (m, n) with unit column stride and row stride ldc. Strides express
// transposes without copies: packing reads either layout.
#pragma once

#include <functional>
#include <memory>
#include <vector>

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

// Rows [k0, k0 + k) of a B stacked from parts along k, read through its strides.
struct DepthPart {
  StridedMatrix b;
  index_t k;
};

// B (k, n) packed once into the panels the micro-kernel reads (NR columns, all k rows
// deep), for many products with the same B: the LSTM multiplies by its recurrent weights
// at every step. Not copyable: the panels are large.
// `panels`: where to pack, 64-byte aligned and panel_floats(k, n) long, kept by the caller
// (a workspace reused across calls: fresh pages fault on first touch); null: owned storage.
class PackedB {
 public:
  PackedB(index_t k, index_t n, StridedMatrix b, float* panels = nullptr);
  // B stacked from parts along k ([W_ih W_hh]^T without a copy), its columns reordered:
  // packed column j is B's column columns[j], or zeros where that is negative.
  PackedB(index_t n, const std::vector<DepthPart>& parts, const std::vector<index_t>& columns,
          float* panels = nullptr);
  static index_t panel_floats(index_t k, index_t n);
  PackedB(const PackedB&) = delete;
  PackedB& operator=(const PackedB&) = delete;
  index_t k() const { return k_; }
  index_t n() const { return n_; }
  // The panel holding columns [j, j + NR), for j a multiple of NR: k rows of NR floats.
  const float* panel(index_t j) const { return data_ + j * k_; }

 private:
  index_t k_, n_;
  std::unique_ptr<float[]> storage_;  // uninitialised: the packing writes every float
  float* data_;                        // 64-byte aligned, inside storage_ or the caller's
};

// Work on a block of C as soon as it is final, while it is in cache (the LSTM's gates):
// run(row0, rows, col0, cols) gets C's rows [row0, row0 + rows) and columns
// [col0, col0 + cols), col0 a multiple of `group` and cols one too except at C's right
// edge. group is a multiple of the micro-kernel's NR, and divides its NC.
struct BlockEpilogue {
  index_t group;
  std::function<void(index_t row0, index_t rows, index_t col0, index_t cols)> run;
};

// C (m, n) = alpha * A (m, k) @ B + beta * C, B packed as above; the loop nest of gemm()
// without its B packing, and every element summed in the same order as gemm() sums it.
// With an epilogue, each block of C goes through it once final (threads split C's
// columns at multiples of its group).
void gemm_packed_b(index_t m, float alpha, StridedMatrix a, const PackedB& b, float beta,
                   float* c, index_t ldc, int nthreads = 0,
                   const BlockEpilogue* epilogue = nullptr);

}  // namespace kiln::detail
