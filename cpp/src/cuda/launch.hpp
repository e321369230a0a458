// kiln CUDA: the one way kiln launches a kernel.
//
//   cudaError_t e = kiln::cuda::launch(kernel, grid, block, shared_bytes, stream, args...);
//
// is `kernel<<<grid, block, shared_bytes, stream>>>(args...)` under nvcc and the emulated
// device's launch otherwise; either way it returns cudaGetLastError() (the launch's error,
// which it clears). Why one helper: kiln's sources contain no other launch syntax, so
// every kernel runs on the emulator unchanged.
#pragma once

#include <cstddef>
#include <utility>

#include "cuda_compat.hpp"

namespace kiln::cuda {

template <class... Params, class... Args>
cudaError_t launch(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t shared_bytes,
                   cudaStream_t stream, Args&&... args) {
#if defined(__CUDACC__)
  kernel<<<grid, block, shared_bytes, stream>>>(std::forward<Args>(args)...);
#else
  ::kiln::cuda_emu::launch(kernel, grid, block, shared_bytes, stream, std::forward<Args>(args)...);
#endif
  return cudaGetLastError();
}

}  // namespace kiln::cuda
