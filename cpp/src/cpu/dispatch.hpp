// Internal: the one table of CPU kernel variants, chosen once per process.
//
// The portable entries are always present; an ISA-specific entry replaces one when
// the CPU supports it (CPUID) and KILN_CPU does not forbid it. KILN_CPU=portable
// forces the plain C++ code, for testing and for comparison.
#pragma once

#include "conv2d_direct.hpp"
#include "kiln/common.hpp"

namespace kiln::detail {

// C (mr x nr, row stride ldc) = alpha * Apanel @ Bpanel + beta * C.
// Apanel is k columns of mr floats, Bpanel k rows of nr floats (see gemm.cpp).
// beta == 0: C is written without being read.
using GemmMicroKernel = void (*)(index_t k, const float* a_panel, const float* b_panel,
                                 float* c, index_t ldc, float alpha, float beta);

struct GemmKernel {
  const char* name;
  int mr, nr;              // register tile
  index_t mc, kc, nc;      // cache blocks: A block mc x kc (L2), B panel kc x nr (L1)
  GemmMicroKernel micro_kernel;
};

struct CpuKernels {
  const char* isa;  // "portable", ...
  GemmKernel gemm;
  ConvDirectRowKernel conv_direct_row = &conv2d_direct_row_portable;
};

const CpuKernels& cpu_kernels();

}  // namespace kiln::detail
