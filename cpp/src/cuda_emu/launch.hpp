// kiln's emulated device: a kernel launch, what `kernel<<<grid, block, shared, stream>>>(args)`
// is when the emulator runs it (called by kiln::cuda::launch, cpp/src/cuda/launch.hpp).
//
// Why a template over the kernel's own parameter types: the arguments are converted to
// them and copied once, as the CUDA runtime copies a launch's parameters, and every
// thread calls the kernel with its own copies of those.
#pragma once

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include "kiln/cuda/emulated/runtime_api.hpp"

namespace kiln::cuda_emu {

struct LaunchRequest {
  const void* kernel;  // its address: the key of cudaFuncSetAttribute
  dim3 grid, block;
  std::size_t shared_bytes;  // dynamic shared memory per block
  cudaStream_t stream;
  void (*thread_main)(void*);  // runs the kernel body once, as the current thread
  void* closure;
};

// Checks the configuration as the runtime does (an error recorded for cudaGetLastError,
// nothing run), then runs every block, in a shuffled order, to its end. Returns the error.
cudaError_t launch_kernel(const LaunchRequest& request);

template <class... Params, class... Args>
cudaError_t launch(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t shared_bytes,
                   cudaStream_t stream, Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "a kernel launch passes every parameter");
  std::tuple<std::decay_t<Params>...> params(std::forward<Args>(args)...);
  auto body = [&kernel, &params] { std::apply(kernel, params); };
  using Body = decltype(body);
  return launch_kernel(LaunchRequest{reinterpret_cast<const void*>(kernel), grid, block,
                                     shared_bytes, stream,
                                     [](void* b) { (*static_cast<Body*>(b))(); }, &body});
}

}  // namespace kiln::cuda_emu
