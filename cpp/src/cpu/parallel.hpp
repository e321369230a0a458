// Internal: how many threads a kernel of a given size should use.
#pragma once

#include <algorithm>

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

}  // namespace kiln::detail
