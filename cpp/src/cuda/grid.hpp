// kiln CUDA: how many blocks a grid-stride kernel launches.
//
// Why a grid that fills the device once (kBlocksPerMultiprocessor blocks per multiprocessor)
// rather than one thread per element: the launch costs the same for any size, and on the
// emulated device (4 multiprocessors) the loops really loop, so a wrong stride shows in tests.
#pragma once

#include "cuda_compat.hpp"
#include "kiln/common.hpp"

namespace kiln::cuda::detail {

inline int multiprocessors() {
  int device = 0, count = 1;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
    count = 1;  // the launch reports the device's error
  return count > 0 ? count : 1;
}

// Blocks of `threads` for `work` items, at most blocks_per_multiprocessor per multiprocessor.
inline unsigned grid_stride_blocks(index_t work, int threads, int blocks_per_multiprocessor = 8) {
  const index_t wanted = (work + threads - 1) / threads;
  const index_t most = static_cast<index_t>(multiprocessors()) * blocks_per_multiprocessor;
  const index_t blocks = wanted < most ? wanted : most;
  return static_cast<unsigned>(blocks > 0 ? blocks : 1);
}

}  // namespace kiln::cuda::detail
