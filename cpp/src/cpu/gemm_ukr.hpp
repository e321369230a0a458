// Internal: every GEMM micro-kernel, one per ISA and tile, named ISA_MRxNR, and the
// direct kernels for small products.
//
// Contract (all of them): C (MR x NR, row stride ldc) = alpha * A @ B + beta * C,
// A packed as k columns of MR floats, B as k rows of NR floats (64-byte aligned);
// beta == 0 writes C without reading it. The portable template is the reference
// the others are tested against.
#pragma once

#include "kiln/common.hpp"

namespace kiln::detail {

template <int MR, int NR>
void gemm_ukr_portable(index_t k, const float* __restrict a, const float* __restrict b,
                       float* __restrict c, index_t ldc, float alpha, float beta) {
  float acc[MR][NR] = {};
  for (index_t p = 0; p < k; ++p) {
    const float* bp = b + p * NR;
    for (int i = 0; i < MR; ++i) {
      const float ai = a[p * MR + i];
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * bp[j];
    }
  }
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
    if (beta == 0.0f) {
      for (int j = 0; j < NR; ++j) ci[j] = alpha * acc[i][j];
    } else {
      for (int j = 0; j < NR; ++j) ci[j] = alpha * acc[i][j] + beta * ci[j];
    }
  }
}

void gemm_ukr_avx2_6x16(index_t k, const float* a, const float* b, float* c, index_t ldc,
                        float alpha, float beta);
void gemm_ukr_avx512_14x32(index_t k, const float* a, const float* b, float* c, index_t ldc,
                           float alpha, float beta);
// The first 4 or 8 rows of the 14 x 32 tile, from the same 14-row A panels (GemmEdgeKernel).
void gemm_ukr_avx512_4x32_of14(index_t k, const float* a, const float* b, float* c, index_t ldc,
                               float alpha, float beta);
void gemm_ukr_avx512_8x32_of14(index_t k, const float* a, const float* b, float* c, index_t ldc,
                               float alpha, float beta);

// One MR-row panel of row-major A (row stride rs, kc columns) -> out[p * MR + i], by register
// transposes (the plain loop is a scalar gather: ~10% of a 2-thread 1024^3 product).
void gemm_pack_a_avx2_6(index_t kc, const float* a, index_t rs, float* out);
void gemm_pack_a_avx512_14(index_t kc, const float* a, index_t rs, float* out);

// One NR-column B panel from columns contiguous down k (GemmPackBColumns), by 8 x 8 register
// transposes; the plain loop is a scalar gather at about a float a cycle, which made packing the
// LSTM cell's weights cost as much as its GEMM. The 32-column one serves AVX-512's tile.
void gemm_pack_b_columns_avx2_16(index_t kc, const float* const* columns, float* out);
void gemm_pack_b_columns_avx2_32(index_t kc, const float* const* columns, float* out);

// Direct (unpacked) GEMM for small products, single-threaded:
//   C = alpha * A @ B + beta * C + col_bias (per column) + row_bias (per row), then relu
// A (m x k): element (i, p) at a[i * a_rs + p * a_cs], any strides. B (k x n): element
// (p, j) at b[p * b_rs + j * b_cs] with b_cs == 1 or b_rs == 1; in the latter case B is
// first transposed into scratch (k * n floats). C (m x n) has row stride ldc. beta == 0:
// C is written without being read. k >= 0; biases are null when absent.
struct GemmDirectArgs {
  index_t m, n, k;
  const float* a;
  index_t a_rs, a_cs;
  const float* b;
  index_t b_rs, b_cs;
  float* c;
  index_t ldc;
  float alpha, beta;
  const float* col_bias;
  const float* row_bias;
  bool relu;
  float* scratch;
};

void gemm_direct_avx2(const GemmDirectArgs& args);
void gemm_direct_avx512(const GemmDirectArgs& args);
// B (k x n) with unit row stride (a row-major (n, k) matrix, transposed) -> out, k x n
// row-major, 8 x 8 blocks at a time: the direct kernels' first step for such a B.
void gemm_direct_transpose_b_avx2(const GemmDirectArgs& args, float* out);

}  // namespace kiln::detail
