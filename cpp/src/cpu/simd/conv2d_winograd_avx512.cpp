// The Winograd transforms (conv2d_winograd.hpp) for AVX-512: simd/conv2d_winograd_x86.hpp,
// 8 tiles a step as on AVX2 (the transposes, not the arithmetic, bound them), compiled
// with AVX-512's 32 vector registers so that a patch's 36 values stay in registers.
// Compiled with -mavx512f (CMakeLists.txt), reached only through the dispatch table after
// the CPUID check.
#include "conv2d_winograd_x86.hpp"

namespace kiln::detail {

WinogradKernels winograd_kernels_avx512() {
  return {&winograd_x86::input_panel, &winograd_x86::output_panel,
          &winograd_x86::grad_output_panel};
}

}  // namespace kiln::detail
