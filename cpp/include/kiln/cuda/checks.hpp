// kiln CUDA: checks of array contents on the device (index ranges), for kernels whose
// contract refuses bad indices before writing anything.
//
//   values: (n,) device array of int64 (or int32)
//
// find_out_of_range returns the first position i with values[i] outside [0, limit)
// (and, when skip_enabled, values[i] != skip), with its value; position -1 when there is
// none. One grid-stride kernel records the smallest bad position in a device word
// (atomicMin); the host reads it back, so the call synchronises with `stream`.
// Throws std::runtime_error naming `fn` when a launch or copy fails.
#pragma once

#include <cstdint>

#include "kiln/common.hpp"
#include "kiln/cuda/runtime.hpp"

namespace kiln::cuda {

struct BadIndex {
  index_t position = -1;  // -1: every value is in range
  std::int64_t value = 0;
};

BadIndex find_out_of_range(const std::int64_t* values, index_t n, std::int64_t limit,
                           bool skip_enabled, std::int64_t skip, cudaStream_t stream = 0,
                           const char* fn = "find_out_of_range");
BadIndex find_out_of_range(const std::int32_t* values, index_t n, std::int64_t limit,
                           bool skip_enabled, std::int64_t skip, cudaStream_t stream = 0,
                           const char* fn = "find_out_of_range");

}  // namespace kiln::cuda
