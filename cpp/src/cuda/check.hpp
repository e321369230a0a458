// kiln CUDA: CUDA errors as C++ exceptions that name the kernel and its sizes.
//
// Why: kiln's contract is that a failure is an exception naming what failed (the Python
// layer turns it into a Python exception), never a silent wrong result. Argument checks
// stay std::invalid_argument (cpp/src/cpu/check.hpp); a CUDA error is std::runtime_error.
#pragma once

#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>

#include "cuda_compat.hpp"

namespace kiln::cuda::detail {

// KILN_CUDA_SYNC=1 (as CUDA_LAUNCH_BLOCKING): wait for every kernel after its launch, so that a
// fault inside it (an illegal address) is reported with its name and sizes, not at the next
// copy to the host. Read once.
inline bool sync_after_launch() {
  static const bool sync = [] {
    const char* v = std::getenv("KILN_CUDA_SYNC");
    return v && *v && *v != '0';
  }();
  return sync;
}

// throw_if_failed(e, "adam_step", "n=" + std::to_string(n)), after a launch: throws
//   "adam_step (n=5): CUDA error cudaErrorInvalidConfiguration: invalid configuration argument"
inline void throw_if_failed(cudaError_t error, const char* kernel, const std::string& sizes) {
  if (error == cudaSuccess && sync_after_launch()) error = cudaDeviceSynchronize();
  if (error == cudaSuccess) return;
  std::ostringstream m;
  m << kernel << " (" << sizes << "): CUDA error " << cudaGetErrorName(error) << ": "
    << cudaGetErrorString(error);
  throw std::runtime_error(m.str());
}

}  // namespace kiln::cuda::detail
