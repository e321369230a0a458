// kiln CUDA (private): KILN_UNROLL before a loop of constant trip count: `#pragma unroll`
// under nvcc (register tiles must stay in registers), nothing for the host compiler of the
// emulated build (which does not know the pragma).
#pragma once

#if defined(__CUDACC__)
#define KILN_UNROLL _Pragma("unroll")
#else
#define KILN_UNROLL
#endif
