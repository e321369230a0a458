// Internal: sums in an order fixed by the sizes alone, never by the thread count,
// so that reductions are bit-identical for any number of threads.
#pragma once

#include <algorithm>
#include <vector>

#include "kiln/common.hpp"
#include "parallel.hpp"

namespace kiln::detail {

constexpr int kSumLanes = 8;

// term(i) summed over [begin, end) into Acc: kSumLanes interleaved partial sums
// (which the compiler can vectorise without reassociating), combined pairwise.
// term is called once per i, in increasing order, so it may also write outputs.
template <typename Acc, typename Term>
Acc lane_sum(index_t begin, index_t end, Term&& term) {
  Acc acc[kSumLanes] = {};
  index_t i = begin;
  for (; i + kSumLanes <= end; i += kSumLanes)
    for (int j = 0; j < kSumLanes; ++j) acc[j] += term(i + j);
  for (int j = 0; i < end; ++i, ++j) acc[j] += term(i);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// term(i) summed over [0, n) in double: blocks of `block` items, each a lane_sum on
// one thread, then the block sums in order.
template <typename Term>
double blocked_sum(index_t n, index_t block, int nthreads, Term&& term) {
  const index_t blocks = (n + block - 1) / block;
  std::vector<double> partial(static_cast<std::size_t>(blocks));
  parallel_for(blocks, nthreads, [&](index_t b) {
    partial[b] = lane_sum<double>(b * block, std::min(n, (b + 1) * block), term);
  });
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

}  // namespace kiln::detail
