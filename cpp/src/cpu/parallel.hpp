// Internal: kiln's one way to run work on several threads, and how many to use.
//
// Every parallel region of kiln is `parallel` below, and its one OpenMP region is in
// threads.cpp. What that buys, for every kernel alike:
// - an exception thrown by any share (std::bad_alloc: arguments are checked before) is
//   caught inside the region and rethrown on the calling thread after it (an exception
//   leaving an OpenMP region calls std::terminate);
// - every share runs even when OpenMP grants fewer threads than asked (OMP_THREAD_LIMIT,
//   OMP_DYNAMIC): a granted thread then runs several shares;
// - a child of fork() runs its regions on a team that exists (threads.cpp).
#pragma once

#include <algorithm>
#include <memory>
#include <type_traits>

#include "kiln/common.hpp"

namespace kiln::detail {

// get_num_threads(), or 1 inside a parallel region or for work too small to share.
int threads_for(double flops);

// The [begin, end) share of `count` items that thread `t` of `nthreads` takes,
// rounded to multiples of `grain` so that tiles are not split.
inline void split_range(index_t count, int t, int nthreads, index_t grain, index_t& begin,
                        index_t& end) {
  const index_t units = (count + grain - 1) / grain;
  const index_t per = units / nthreads, extra = units % nthreads;
  const index_t first = t * per + std::min<index_t>(t, extra);
  const index_t n_units = per + (t < extra ? 1 : 0);
  begin = std::min(count, first * grain);
  end = std::min(count, (first + n_units) * grain);
}

// body(share, shares) for every share in [0, nshares), on up to nshares threads; returns
// when all have run. The first exception (by share) is rethrown here. Defined in threads.cpp.
using ShareFunction = void (*)(void* context, int share, int nshares);
void run_shares(int nshares, ShareFunction fn, void* context);

// body(share, nshares) for share in [0, nshares): one share per thread. One share runs
// inline, without OpenMP.
template <typename Body>
void parallel(int nshares, Body&& body) {
  if (nshares <= 1) {
    body(0, 1);
    return;
  }
  using B = std::remove_reference_t<Body>;
  run_shares(
      nshares, [](void* context, int share, int n) { (*static_cast<B*>(context))(share, n); },
      const_cast<void*>(static_cast<const void*>(std::addressof(body))));
}

// body(i) for i in [0, count), in contiguous ranges, one per thread (OpenMP's
// schedule(static)); at most `count` threads.
template <typename Body>
void parallel_for(index_t count, int nthreads, Body&& body) {
  if (nthreads <= 1 || count <= 1) {
    for (index_t i = 0; i < count; ++i) body(i);
    return;
  }
  parallel(static_cast<int>(std::min<index_t>(nthreads, count)), [&](int share, int n) {
    index_t begin, end;
    split_range(count, share, n, 1, begin, end);
    for (index_t i = begin; i < end; ++i) body(i);
  });
}

}  // namespace kiln::detail
