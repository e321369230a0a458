// kiln's emulated device: device memory and copies.
//
// Why checked: device memory is host memory here, so a kernel or a copy given a host
// pointer would "work" and hide the bug until a real GPU. Every allocation is recorded;
// a copy or memset must name ranges that lie where its cudaMemcpyKind says (a device
// range inside one allocation, a host range touching none), or it fails with
// cudaErrorInvalidValue before copying anything. New allocations are filled with 0xFF
// bytes (NaN as float), since cudaMalloc does not clear memory either.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>

#include "limits.hpp"
#include "state.hpp"

namespace kiln::cuda_emu {
namespace {

struct Allocation {
  std::size_t bytes;
  bool device;  // false: pinned host memory (cudaMallocHost)
};

std::mutex g_mutex;
std::map<std::uintptr_t, Allocation> g_allocations;  // by start address; guarded by g_mutex
std::size_t g_device_bytes = 0;                       // guarded by g_mutex

// The allocation containing [p, p + bytes) whole, or null. Needs g_mutex.
const Allocation* containing(const void* p, std::size_t bytes, std::uintptr_t* base = nullptr) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  auto it = g_allocations.upper_bound(a);
  if (it == g_allocations.begin()) return nullptr;
  --it;
  if (a - it->first > it->second.bytes || bytes > it->second.bytes - (a - it->first)) return nullptr;
  if (base) *base = it->first;
  return &it->second;
}

// Whether [p, p + bytes) overlaps any device allocation. Needs g_mutex.
bool touches_device(const void* p, std::size_t bytes) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  auto it = g_allocations.lower_bound(a + bytes);
  while (it != g_allocations.begin()) {
    --it;
    if (it->first + it->second.bytes <= a) return false;
    if (it->second.device) return true;
  }
  return false;
}

bool is_device_range(const void* p, std::size_t bytes) {
  const Allocation* a = containing(p, bytes);
  return a && a->device;
}

cudaError_t allocate(void** ptr, std::size_t size, bool device) {
  if (cudaError_t e = enter()) return e;
  if (!ptr) return record(cudaErrorInvalidValue);
  *ptr = nullptr;
  if (size == 0) return cudaSuccess;
  const std::size_t rounded =
      (size + limits::kAllocationAlignment - 1) / limits::kAllocationAlignment * limits::kAllocationAlignment;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (device && rounded > total_memory() - g_device_bytes) return record(cudaErrorMemoryAllocation);
  }
  void* p = std::aligned_alloc(limits::kAllocationAlignment, rounded);
  if (!p) return record(cudaErrorMemoryAllocation);
  std::memset(p, 0xFF, rounded);
  std::lock_guard<std::mutex> lock(g_mutex);
  g_allocations[reinterpret_cast<std::uintptr_t>(p)] = Allocation{size, device};
  if (device) g_device_bytes += size;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t release(void* ptr, bool device) {
  if (cudaError_t e = enter()) return e;
  if (!ptr) return cudaSuccess;
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = g_allocations.find(reinterpret_cast<std::uintptr_t>(ptr));
  if (it == g_allocations.end() || it->second.device != device) return record(cudaErrorInvalidValue);
  if (device) g_device_bytes -= it->second.bytes;
  g_allocations.erase(it);
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t copy(void* dst, const void* src, std::size_t count, cudaMemcpyKind kind) {
  if (cudaError_t e = enter()) return e;
  if (count == 0) return cudaSuccess;
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault)
    return record(cudaErrorInvalidMemcpyDirection);
  if (!dst || !src) return record(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(g_mutex);
  bool src_device, dst_device;
  if (kind == cudaMemcpyDefault) {
    src_device = touches_device(src, count);
    dst_device = touches_device(dst, count);
  } else {
    src_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    dst_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  }
  const bool src_ok = src_device ? is_device_range(src, count) : !touches_device(src, count);
  const bool dst_ok = dst_device ? is_device_range(dst, count) : !touches_device(dst, count);
  if (!src_ok || !dst_ok) return record(cudaErrorInvalidValue);
  std::memmove(dst, src, count);
  return cudaSuccess;
}

cudaError_t fill(void* ptr, int value, std::size_t count) {
  if (cudaError_t e = enter()) return e;
  if (count == 0) return cudaSuccess;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!is_device_range(ptr, count)) return record(cudaErrorInvalidValue);
  std::memset(ptr, value, count);
  return cudaSuccess;
}

}  // namespace

std::size_t total_memory() {
  // Half the host's memory, so that the emulated device runs out before the host does.
  static const std::size_t bytes = static_cast<std::size_t>(sysconf(_SC_PHYS_PAGES)) *
                                   static_cast<std::size_t>(sysconf(_SC_PAGESIZE)) / 2;
  return bytes;
}

void free_all_memory() {
  std::lock_guard<std::mutex> lock(g_mutex);
  for (const auto& [address, allocation] : g_allocations) std::free(reinterpret_cast<void*>(address));
  g_allocations.clear();
  g_device_bytes = 0;
}

}  // namespace kiln::cuda_emu

using namespace kiln::cuda_emu;

cudaError_t cudaMalloc(void** ptr, std::size_t size) { return allocate(ptr, size, true); }
cudaError_t cudaFree(void* ptr) { return release(ptr, true); }
cudaError_t cudaMallocHost(void** ptr, std::size_t size) { return allocate(ptr, size, false); }
cudaError_t cudaFreeHost(void* ptr) { return release(ptr, false); }

cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes) {
  if (cudaError_t e = enter()) return e;
  if (!free_bytes || !total_bytes) return record(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(g_mutex);
  *total_bytes = total_memory();
  *free_bytes = total_memory() - g_device_bytes;
  return cudaSuccess;
}

cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attributes, const void* ptr) {
  if (cudaError_t e = enter()) return e;
  if (!attributes) return record(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(g_mutex);
  const Allocation* a = containing(ptr, 1);
  attributes->device = a ? 0 : -2;
  attributes->type = !a ? cudaMemoryTypeUnregistered : a->device ? cudaMemoryTypeDevice : cudaMemoryTypeHost;
  attributes->devicePointer = a ? const_cast<void*>(ptr) : nullptr;
  attributes->hostPointer = a && !a->device ? const_cast<void*>(ptr) : nullptr;
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t count, cudaMemcpyKind kind) {
  return copy(dst, src, count, kind);
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t count, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  if (!stream_is_valid(stream)) return record(cudaErrorInvalidResourceHandle);
  return copy(dst, src, count, kind);
}

cudaError_t cudaMemset(void* ptr, int value, std::size_t count) { return fill(ptr, value, count); }

cudaError_t cudaMemsetAsync(void* ptr, int value, std::size_t count, cudaStream_t stream) {
  if (!stream_is_valid(stream)) return record(cudaErrorInvalidResourceHandle);
  return fill(ptr, value, count);
}
