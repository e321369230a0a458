// Internal: an elementwise loop split into contiguous ranges, one per thread.
#pragma once

#include "kiln/common.hpp"
#include "parallel.hpp"

namespace kiln::detail {

// body(begin, end) over [0, n) in per-thread ranges of whole `grain`s (so threads
// do not share cache lines); `flops` sizes the team (threads_for).
template <typename Body>
void parallel_range(index_t n, double flops, index_t grain, Body&& body) {
  const int nthreads = threads_for(flops);
  if (nthreads <= 1 || n <= grain) {
    if (n > 0) body(index_t{0}, n);
    return;
  }
  parallel(nthreads, [&](int t, int nt) {
    index_t begin = 0, end = 0;
    split_range(n, t, nt, grain, begin, end);
    if (begin < end) body(begin, end);
  });
}

}  // namespace kiln::detail
