// Internal: the attention tile loops (attention_tile.hpp), written once in plain C++ and
// compiled per ISA: each includer gets its own copy in an anonymous namespace and wraps
// the three functions into its AttentionTileKernels.
#pragma once

#include <algorithm>

#include "attention_tile.hpp"
#include "kiln/attention.hpp"

namespace kiln::detail {
namespace {

void attention_scores(const float* __restrict__ x, const float* __restrict__ tile_t, index_t cols,
                      index_t n, float scale, float* __restrict__ s) {
  std::fill(s, s + n, 0.0f);
  for (index_t c = 0; c < cols; ++c) {
    const float a = x[c];
    const float* t = tile_t + c * kAttentionKeyTile;
    for (index_t jj = 0; jj < n; ++jj) s[jj] += a * t[jj];
  }
  for (index_t jj = 0; jj < n; ++jj) s[jj] *= scale;
}

void attention_combine(index_t n, const float* __restrict__ p, const float* __restrict__ rows,
                       index_t cols, float* __restrict__ acc) {
  for (index_t jj = 0; jj < n; ++jj) {
    const float a = p[jj];
    const float* r = rows + jj * cols;
    for (index_t c = 0; c < cols; ++c) acc[c] += a * r[c];
  }
}

void attention_rank1(index_t n, const float* __restrict__ a, float scale, const float* __restrict__ x,
                     index_t cols, float* __restrict__ y) {
  for (index_t jj = 0; jj < n; ++jj) {
    const float f = scale * a[jj];
    float* row = y + jj * cols;
    for (index_t c = 0; c < cols; ++c) row[c] += f * x[c];
  }
}

}  // namespace
}  // namespace kiln::detail
