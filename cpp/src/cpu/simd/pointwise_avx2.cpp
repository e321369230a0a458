// The pointwise and row kernels (pointwise_kernel.hpp) for AVX2: simd/pointwise_impl.hpp
// over simd/vec_avx2.hpp. Compiled with this ISA's -m flags (CMakeLists.txt), reached
// only through the dispatch table after the CPUID check.
#include "pointwise_impl.hpp"
#include "vec_avx2.hpp"

namespace kiln::detail {

PointwiseKernels pointwise_kernels_avx2() { return simd::pointwise_kernels<avx2::Vec>(); }

}  // namespace kiln::detail
