// kiln CUDA: what every kernel source includes instead of <cuda_runtime.h>.
//
// Why: one source, two compilers. Under nvcc this is the CUDA runtime and __shared__;
// compiled as C++ (KILN_CUDA=EMULATE) it is kiln's emulated device (cpp/src/cuda_emu/),
// which defines the same language: qualifiers, threadIdx & co., __syncthreads, warp
// intrinsics, atomics, vector types, math.
//
// Shared memory is declared through two macros, since __shared__ cannot be emulated as a
// storage class (it must give one object per block, not per program or per thread):
//   KILN_SHARED(float, tile, [32][33]);  // __shared__ float tile[32][33];
//   KILN_DYNAMIC_SHARED(float, smem);    // extern __shared__ float smem[]; (16-byte aligned)
// The dynamic size is the launch's shared_bytes (kiln::cuda::launch, launch.hpp).
#pragma once

#if defined(__CUDACC__)

#include <cuda_runtime.h>

#define KILN_SHARED(type, name, dims) __shared__ type name dims
#define KILN_DYNAMIC_SHARED(type, name)                                  \
  extern __shared__ __align__(16) unsigned char kiln_dynamic_shared_[]; \
  type* name = reinterpret_cast<type*>(kiln_dynamic_shared_)

#else

#include "../cuda_emu/device_code.hpp"

#define KILN_SHARED(type, name, dims)  \
  static char kiln_shared_tag_##name; \
  type(&name) dims = ::kiln::cuda_emu::static_shared<type dims>(&kiln_shared_tag_##name)
#define KILN_DYNAMIC_SHARED(type, name) type* name = ::kiln::cuda_emu::dynamic_shared<type>()

#endif
