// kiln CUDA (private): what the non-GEMM kernels share: grid sizing, warp and block
// reductions, and the per-stream scratch that holds partial sums and check results.
//
// Why here: every row kernel (softmax, the losses, CSR rows) reduces a row with warp
// shuffles and every memory-bound kernel sizes a grid-stride grid the same way; one
// definition keeps the reduction order (and so the rounding) the same everywhere.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda_compat.hpp"
#include "kiln/common.hpp"

namespace kiln::cuda::detail {

constexpr unsigned kFullMask = 0xffffffffu;

// Blocks of a grid-stride launch over `work` items, kThreads per block: enough to fill
// the device `per_multiprocessor` times over, never more than the work needs.
unsigned grid_for(index_t work, int threads, int per_multiprocessor = 8);

// A device buffer of at least `bytes` for work ordered on `stream`: one per (device,
// stream), kept and grown as needed. Kernels on one stream run in order, so each call's
// use of it ends before the next call's begins, provided one host thread at a time
// enqueues on that stream (two threads interleaving calls on one stream could interleave
// their uses: give each thread its own stream). Throws std::runtime_error (naming `fn`)
// when it cannot be allocated.
void* stream_scratch(cudaStream_t stream, std::size_t bytes, const char* fn);

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
  return v;
}

// Max across the warp; like the CPU's row_max, a NaN may be dropped (it poisons the
// row's sum of exponentials anyway).
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) {
    const float other = __shfl_xor_sync(kFullMask, v, o);
    v = other > v ? other : v;
  }
  return v;
}

// The sum of v over the block (blockDim.x a multiple of 32, at most 1024), returned to
// every thread. `shared` holds 32 T; the call synchronises the block twice, so every
// thread of the block must make it.
template <class T>
__device__ __forceinline__ T block_sum(T v, T* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // `shared` may still be read from a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  T total = lane < warps ? shared[lane] : T(0);
  return warp_sum(total);
}

__device__ __forceinline__ float block_max(float v, float* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  float m = lane < warps ? shared[lane] : -INFINITY;
  return warp_max(m);
}

// Whether p is 16-byte aligned (a float4 may be loaded from it).
inline bool aligned16(const void* p) { return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0; }

}  // namespace kiln::cuda::detail
