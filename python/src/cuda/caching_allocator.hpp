// kiln._cuda: device memory through a cache, so that a training step allocates nothing from
// the driver once its first step has run (cudaMalloc and cudaFree synchronise the device and
// cost tens of microseconds each).
//
// Blocks are rounded up (to 512 bytes below 1 MiB, to 2 MiB above) and kept on release in
// a free list by size; an allocation takes the smallest cached block that fits and is less
// than twice its rounded size, else asks the driver, and on the driver's out-of-memory
// empties the cache and asks once more. Work runs on one stream, in order, so a block freed
// by the host may be reused at once: every kernel that used it was enqueued before any that
// will. One process-wide instance, never destroyed (it may outlive the interpreter's objects).
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <unordered_map>

namespace kiln::python::cuda {

struct MemoryStats {
  std::size_t allocated = 0;      // bytes in blocks handed out (rounded sizes)
  std::size_t max_allocated = 0;  // the peak of allocated since the start or the last reset
  std::size_t reserved = 0;       // bytes held from the driver, handed out or cached
};

class CachingAllocator {
 public:
  static CachingAllocator& instance();

  void* allocate(std::size_t bytes);  // std::bad_alloc (MemoryError) naming the size when it cannot
  void release(void* block);
  void empty_cache();                 // gives every cached block back to the driver
  MemoryStats stats();
  void reset_peak();

 private:
  static std::size_t rounded(std::size_t bytes);
  void free_cached_locked();

  std::mutex mutex_;
  std::multimap<std::size_t, void*> cached_;          // size -> block
  std::unordered_map<void*, std::size_t> in_use_;     // block -> size
  MemoryStats stats_;
};

}  // namespace kiln::python::cuda
