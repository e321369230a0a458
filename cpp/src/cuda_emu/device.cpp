// kiln's emulated device: the device itself (count, properties, attributes, reset).
//
// Why: code sizes grids from the properties (multiprocessors, shared memory) and opts
// kernels into more shared memory; the emulated device answers from limits.hpp, the
// same numbers the launch checks use.
#include <cstring>
#include <map>
#include <mutex>

#include "limits.hpp"
#include "state.hpp"

namespace kiln::cuda_emu {
namespace {

std::mutex g_mutex;
std::map<const void*, std::size_t> g_max_dynamic_shared;  // guarded by g_mutex

}  // namespace

std::size_t max_dynamic_shared(const void* kernel, bool* opted_in) {
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = g_max_dynamic_shared.find(kernel);
  *opted_in = it != g_max_dynamic_shared.end();
  return *opted_in ? it->second : limits::kSharedPerBlock;
}

void clear_kernel_attributes() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_max_dynamic_shared.clear();
}

}  // namespace kiln::cuda_emu

using namespace kiln::cuda_emu;
namespace limits = kiln::cuda_emu::limits;

cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return record(cudaErrorInvalidValue);
  *count = visible_devices();
  return *count ? cudaSuccess : record(cudaErrorNoDevice);
}

cudaError_t cudaGetDevice(int* device) {
  if (cudaError_t e = enter()) return e;
  if (!device) return record(cudaErrorInvalidValue);
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (cudaError_t e = enter()) return e;
  return device == 0 ? cudaSuccess : record(cudaErrorInvalidDevice);
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (cudaError_t e = enter()) return e;
  if (!prop) return record(cudaErrorInvalidValue);
  if (device != 0) return record(cudaErrorInvalidDevice);
  std::memset(prop, 0, sizeof(*prop));
  std::strncpy(prop->name, "kiln emulated device", sizeof(prop->name) - 1);
  prop->totalGlobalMem = total_memory();
  prop->sharedMemPerBlock = limits::kSharedPerBlock;
  prop->regsPerBlock = 65536;
  prop->warpSize = limits::kWarpSize;
  prop->maxThreadsPerBlock = static_cast<int>(limits::kMaxThreadsPerBlock);
  for (int d = 0; d < 3; ++d) {
    prop->maxThreadsDim[d] = static_cast<int>(limits::kMaxBlockDim[d]);
    prop->maxGridSize[d] = static_cast<int>(limits::kMaxGridDim[d]);
  }
  prop->totalConstMem = limits::kConstantMemory;
  prop->major = limits::kComputeMajor;
  prop->minor = limits::kComputeMinor;
  prop->multiProcessorCount = limits::kMultiprocessors;
  prop->integrated = 1;
  prop->concurrentKernels = 1;
  prop->unifiedAddressing = 1;
  prop->l2CacheSize = limits::kL2CacheBytes;
  prop->maxThreadsPerMultiProcessor = limits::kMaxThreadsPerMultiprocessor;
  prop->sharedMemPerBlockOptin = limits::kSharedPerBlockOptin;
  prop->sharedMemPerMultiprocessor = limits::kSharedPerMultiprocessor;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (cudaError_t e = enter()) return e;
  if (!value) return record(cudaErrorInvalidValue);
  if (device != 0) return record(cudaErrorInvalidDevice);
  cudaDeviceProp p;
  cudaGetDeviceProperties(&p, 0);
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = p.maxThreadsPerBlock; break;
    case cudaDevAttrMaxBlockDimX: *value = p.maxThreadsDim[0]; break;
    case cudaDevAttrMaxBlockDimY: *value = p.maxThreadsDim[1]; break;
    case cudaDevAttrMaxBlockDimZ: *value = p.maxThreadsDim[2]; break;
    case cudaDevAttrMaxGridDimX: *value = p.maxGridSize[0]; break;
    case cudaDevAttrMaxGridDimY: *value = p.maxGridSize[1]; break;
    case cudaDevAttrMaxGridDimZ: *value = p.maxGridSize[2]; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = static_cast<int>(p.sharedMemPerBlock); break;
    case cudaDevAttrWarpSize: *value = p.warpSize; break;
    case cudaDevAttrMultiProcessorCount: *value = p.multiProcessorCount; break;
    case cudaDevAttrL2CacheSize: *value = p.l2CacheSize; break;
    case cudaDevAttrMaxThreadsPerMultiProcessor: *value = p.maxThreadsPerMultiProcessor; break;
    case cudaDevAttrUnifiedAddressing: *value = p.unifiedAddressing; break;
    case cudaDevAttrComputeCapabilityMajor: *value = p.major; break;
    case cudaDevAttrComputeCapabilityMinor: *value = p.minor; break;
    case cudaDevAttrMaxSharedMemoryPerMultiprocessor:
      *value = static_cast<int>(p.sharedMemPerMultiprocessor);
      break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = static_cast<int>(p.sharedMemPerBlockOptin); break;
    default: return record(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() { return enter(); }

cudaError_t cudaDeviceReset() {
  free_all_memory();
  destroy_all_streams_and_events();
  clear_kernel_attributes();
  clear_faults();
  return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (cudaError_t e = enter()) return e;
  if (!func) return record(cudaErrorInvalidDeviceFunction);
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return record(cudaErrorInvalidValue);
  if (value < 0 || static_cast<std::size_t>(value) > limits::kSharedPerBlockOptin)
    return record(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(g_mutex);
  g_max_dynamic_shared[func] = static_cast<std::size_t>(value);
  return cudaSuccess;
}
