// Internal: independent tasks spread over threads, statically scheduled.
#pragma once

#include <algorithm>

#include "kiln/common.hpp"
#include "parallel.hpp"

namespace kiln::detail {

// body(i) for i < count on up to nthreads threads. Serial when one thread suffices, so
// that work inside may use every thread itself.
template <typename Body>
void parallel_tasks(index_t count, int nthreads, Body body) {
  if (nthreads <= 1 || count <= 1) {
    for (index_t i = 0; i < count; ++i) body(i);
    return;
  }
  parallel_for(count, nthreads, body);
}

// Threads for `items` tasks holding `flops` of work in all.
inline int threads_for_tasks(double flops, index_t items) {
  return static_cast<int>(std::min<index_t>(threads_for(flops), std::max<index_t>(items, 1)));
}

}  // namespace kiln::detail
