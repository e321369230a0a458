// The Winograd transforms (conv2d_winograd.hpp) for AVX2: simd/conv2d_winograd_x86.hpp.
// Compiled with -mavx2 -mfma (CMakeLists.txt), reached only through the dispatch table
// after the CPUID check.
#include "conv2d_winograd_x86.hpp"

namespace kiln::detail {

WinogradKernels winograd_kernels_avx2() {
  return {&winograd_x86::input_panel, &winograd_x86::output_panel,
          &winograd_x86::grad_output_panel};
}

}  // namespace kiln::detail
