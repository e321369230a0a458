// The pointwise and row kernels (pointwise_kernel.hpp) for AVX512: simd/pointwise_impl.hpp
// over simd/vec_avx512.hpp. Compiled with this ISA's -m flags (CMakeLists.txt), reached
// only through the dispatch table after the CPUID check.
// GCC 12 warns inside its own intrinsics, whose pass-through operand is
// _mm512_undefined_ps() by design.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "pointwise_impl.hpp"
#include "vec_avx512.hpp"

namespace kiln::detail {

PointwiseKernels pointwise_kernels_avx512() { return simd::pointwise_kernels<avx512::Vec>(); }

}  // namespace kiln::detail
