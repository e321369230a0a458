// Internal: the one table of CPU kernel variants, chosen once per process.
//
// The portable entries are always present; an ISA-specific entry replaces one when
// the CPU supports it (CPUID) and KILN_CPU does not forbid it. KILN_CPU=portable
// forces the plain C++ code, for testing and for comparison.
#pragma once

#include "adam_kernel.hpp"
#include "conv2d_direct.hpp"
#include "conv2d_gemm.hpp"
#include "conv2d_winograd.hpp"
#include "kiln/common.hpp"
#include "sparse_ukr.hpp"
#include "lstm_gates.hpp"
#include "pointwise_kernel.hpp"
// attention
#include "attention_tile.hpp"
// gru
#include "gru_gates.hpp"

namespace kiln::detail {

// C (mr x nr, row stride ldc) = alpha * Apanel @ Bpanel + beta * C.
// Apanel is k columns of mr floats, Bpanel k rows of nr floats (see gemm.cpp).
// beta == 0: C is written without being read.
using GemmMicroKernel = void (*)(index_t k, const float* a_panel, const float* b_panel,
                                 float* c, index_t ldc, float alpha, float beta);

// One whole A panel from row-major A (row stride rs): out[p * mr + i] = a[i * rs + p] for
// p < kc, i < mr (null: the loop nest's template packs it).
using GemmPackAPanel = void (*)(index_t kc, const float* a, index_t rs, float* out);

// One whole B panel from nr columns of B that each run contiguously down k (column j starts at
// columns[j]: B = W^T for a row-major W, as the layers' weights are read): out[p * nr + j] =
// columns[j][p] for p < kc, j < nr (null: the loop nest's template packs it).
using GemmPackBColumns = void (*)(index_t kc, const float* const* columns, float* out);

struct GemmDirectArgs;  // gemm_ukr.hpp
// The small-product kernel that reads A and B in place (null: small products are packed too).
using GemmDirectKernel = void (*)(const GemmDirectArgs& args);

// A micro-kernel for C's last row tile when it has fewer than mr rows: the first `rows` rows
// of the full tile, read from the same mr-row A panels, at a fraction of the full tile's cost.
struct GemmEdgeKernel {
  int rows;
  GemmMicroKernel kernel;
};

struct GemmKernel {
  const char* name;
  int mr, nr;              // register tile
  index_t mc, kc, nc;      // the loop nest's blocks: A block mc x kc (L2), B block kc x nc (L3)
  index_t panel_kc;        // a B panel panel_kc x nr within L1: the convolutions' depth chunks
  GemmMicroKernel micro_kernel;
  GemmDirectKernel direct;
  GemmPackAPanel pack_a_panel;
  GemmPackBColumns pack_b_columns;
  GemmEdgeKernel edges[2];  // by rows, ascending; a null kernel: none
};

struct SparseKernels {
  SparseRowKernel row;  // a CSR row times a dense matrix (sparse_matmul)
  AxpyKernel axpy;      // its weight gradient, one entry at a time
};

struct LstmGateKernels {
  LstmGatesForward forward;
  LstmGatesBackward backward;
};

// gru
struct GruGateKernels {
  GruGatesForward forward;
  GruGatesBackward backward;
};

struct CpuKernels {
  const char* isa;  // "portable", ...
  GemmKernel gemm;
  SparseKernels sparse;
  LstmGateKernels lstm_gates;
  AdamRangeKernel adam;
  PointwiseKernels pointwise;
  ConvDirectRowKernels conv_direct_rows = {&conv2d_direct_row_portable, &conv2d_direct_row1_portable,
                                           &conv2d_direct_dot_portable, &conv2d_direct_dot1_portable};
  ConvWgradKernel conv_wgrad = {4, 16, &conv2d_wgrad_tile_portable, &conv2d_wgrad_pack_portable};
  WinogradKernels winograd = winograd_kernels_portable();
  // attention
  AttentionTileKernels attention = attention_tile_kernels_portable();
  // gru
  GruGateKernels gru_gates = {&gru_gates_forward_portable, &gru_gates_backward_portable};
};

const CpuKernels& cpu_kernels();

}  // namespace kiln::detail
