// kiln's emulated device: its limits, in one place (launch checks and device properties).
//
// Why these values: a launch the emulator accepts must be one a current data-centre GPU
// (sm_80 / sm_90) accepts, so the limits are theirs; the multiprocessor count is small so
// that the grid-stride loops kiln sizes from it actually loop in the tests.
#pragma once

#include <cstddef>

namespace kiln::cuda_emu::limits {

constexpr unsigned kMaxThreadsPerBlock = 1024;
constexpr unsigned kMaxBlockDim[3] = {1024, 1024, 64};
constexpr unsigned kMaxGridDim[3] = {2147483647u, 65535, 65535};
constexpr int kWarpSize = 32;
constexpr std::size_t kSharedPerBlock = 48 * 1024;        // static + dynamic, without opt-in
constexpr std::size_t kSharedPerBlockOptin = 227 * 1024;  // with cudaFuncSetAttribute (sm_90)
constexpr std::size_t kSharedPerMultiprocessor = 228 * 1024;
constexpr int kMultiprocessors = 4;
constexpr int kMaxThreadsPerMultiprocessor = 2048;
constexpr int kComputeMajor = 9, kComputeMinor = 0;
constexpr std::size_t kConstantMemory = 64 * 1024;
constexpr int kL2CacheBytes = 50 * 1024 * 1024;
constexpr std::size_t kAllocationAlignment = 256;  // cudaMalloc's

}  // namespace kiln::cuda_emu::limits
