// Internal: 64-byte aligned float buffers (the micro-kernels load aligned), and per-thread
// workspaces kept between calls: fresh pages would cost a fault per 4 KiB on every call.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

#include "kiln/common.hpp"

namespace kiln::detail {

struct AlignedFree {
  void operator()(float* q) const { std::free(q); }
};
using AlignedFloats = std::unique_ptr<float[], AlignedFree>;

// count floats, uninitialised, rounded up to whole 64-byte lines.
inline AlignedFloats aligned_floats(index_t count) {
  const std::size_t bytes = ((static_cast<std::size_t>(count) * sizeof(float) + 63) / 64) * 64;
  float* q = static_cast<float*>(std::aligned_alloc(64, std::max<std::size_t>(bytes, 64)));
  if (!q) throw std::bad_alloc();
  return AlignedFloats(q);
}

// Slot `slot` (< Slots) of this thread's workspaces of Owner, at least `floats` long, grown on
// demand. Owner is a tag type per kernel family, so one family's buffers never alias another's
// (conv2d's padded input must survive a GEMM call in between).
template <class Owner, int Slots>
float* thread_workspace(int slot, index_t floats) {
  thread_local AlignedFloats buffers[Slots];
  thread_local index_t sizes[Slots] = {};
  if (sizes[slot] < floats) {
    buffers[slot] = aligned_floats(floats);
    sizes[slot] = floats;
  }
  return buffers[slot].get();
}

}  // namespace kiln::detail
