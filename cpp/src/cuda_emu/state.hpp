// kiln's emulated device: the runtime state its files share (errors, handles, limits).
//
// Why one header: errors.cpp owns the error state, memory.cpp the allocations,
// streams.cpp the handles, device.cpp the per-kernel attributes; launch.cpp and each
// other needs a few of them, declared here and nowhere else.
#pragma once

#include <cstddef>
#include <string>

#include "kiln/cuda/emulated/runtime_api.hpp"

namespace kiln::cuda_emu {

// ---- errors.cpp ---------------------------------------------------------------------
// Records e as the calling thread's last error unless it is cudaSuccess; returns e.
cudaError_t record(cudaError_t e);
// The first thing every API call does: the sticky fault, or cudaErrorNoDevice when
// KILN_CUDA_EMU_DEVICES=0 hides the device, recorded; cudaSuccess otherwise.
cudaError_t enter();
// A fault inside a kernel: sticky until cudaDeviceReset; the message goes to stderr
// and to last_failure().
void set_fault(cudaError_t e, const std::string& message);
// A launch refused or stopped for a reason that is not sticky (a shared-memory size
// found over the limit while running): recorded, message kept and printed.
void set_launch_error(cudaError_t e, const std::string& message);
void clear_faults();
int visible_devices();  // 1, or 0 with KILN_CUDA_EMU_DEVICES=0

// ---- memory.cpp ---------------------------------------------------------------------
std::size_t total_memory();
void free_all_memory();

// ---- streams.cpp --------------------------------------------------------------------
bool stream_is_valid(cudaStream_t stream);
void destroy_all_streams_and_events();

// ---- device.cpp ---------------------------------------------------------------------
// The dynamic shared memory a kernel may ask for, and whether it was opted in
// (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes)).
std::size_t max_dynamic_shared(const void* kernel, bool* opted_in);
void clear_kernel_attributes();

}  // namespace kiln::cuda_emu
