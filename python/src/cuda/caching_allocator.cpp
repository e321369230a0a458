// kiln._cuda: the caching allocator (caching_allocator.hpp).
#include "caching_allocator.hpp"

#include <new>
#include <sstream>
#include <stdexcept>

#include "kiln/cuda/runtime.hpp"

namespace kiln::python::cuda {
namespace {

constexpr std::size_t kSmall = std::size_t(1) << 20;
constexpr std::size_t kSmallRound = 512;
constexpr std::size_t kLargeRound = std::size_t(2) << 20;

// std::bad_alloc carries no message; pybind11 turns this subclass into MemoryError too.
class DeviceOutOfMemory : public std::bad_alloc {
 public:
  explicit DeviceOutOfMemory(std::string message) : message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

std::string mib(std::size_t bytes) {
  std::ostringstream s;
  s.precision(3);
  s << static_cast<double>(bytes) / (1 << 20) << " MiB";
  return s.str();
}

}  // namespace

CachingAllocator& CachingAllocator::instance() {
  static CachingAllocator* allocator = new CachingAllocator();
  return *allocator;
}

std::size_t CachingAllocator::rounded(std::size_t bytes) {
  if (bytes == 0) bytes = 1;  // a distinct, valid address for an empty array
  const std::size_t unit = bytes < kSmall ? kSmallRound : kLargeRound;
  return (bytes + unit - 1) / unit * unit;
}

void* CachingAllocator::allocate(std::size_t bytes) {
  const std::size_t size = rounded(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  void* block = nullptr;
  auto fit = cached_.lower_bound(size);
  std::size_t block_size = size;
  if (fit != cached_.end() && fit->first < 2 * size) {
    block = fit->second;
    block_size = fit->first;
    cached_.erase(fit);
  } else {
    cudaError_t error = cudaMalloc(&block, size);
    if (error == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      free_cached_locked();
      error = cudaMalloc(&block, size);
    }
    if (error != cudaSuccess) {
      cudaGetLastError();
      throw DeviceOutOfMemory("CUDA out of memory: tried to allocate " + mib(bytes) + " (" +
                              std::to_string(bytes) + " bytes); " + mib(stats_.allocated) +
                              " allocated by kiln, " + mib(stats_.reserved) + " reserved (" +
                              cudaGetErrorName(error) + ")");
    }
    stats_.reserved += size;
  }
  in_use_.emplace(block, block_size);
  stats_.allocated += block_size;
  if (stats_.allocated > stats_.max_allocated) stats_.max_allocated = stats_.allocated;
  return block;
}

void CachingAllocator::release(void* block) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = in_use_.find(block);
  if (it == in_use_.end()) return;
  stats_.allocated -= it->second;
  cached_.emplace(it->second, block);
  in_use_.erase(it);
}

void CachingAllocator::free_cached_locked() {
  for (auto& [size, block] : cached_) {
    cudaFree(block);
    stats_.reserved -= size;
  }
  cached_.clear();
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  free_cached_locked();
}

MemoryStats CachingAllocator::stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.max_allocated = stats_.allocated;
}

}  // namespace kiln::python::cuda
