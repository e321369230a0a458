// Internal: the portable row pieces of a stable softmax (pointwise_kernel.hpp has the
// per-ISA table that the softmax kernels and the cross-entropy loss call).
// No __restrict: softmax may run in place (y == x).
#pragma once

#include <cmath>
#include <limits>

#include "kiln/common.hpp"
#include "reduce.hpp"

namespace kiln::detail {

// max of x[0..n), -inf for n == 0. A NaN may be skipped: it poisons the row's
// sum of exponentials anyway.
inline float row_max(const float* x, index_t n) {
  float m[kSumLanes];
  for (float& v : m) v = -std::numeric_limits<float>::infinity();
  index_t i = 0;
  for (; i + kSumLanes <= n; i += kSumLanes)
    for (int j = 0; j < kSumLanes; ++j) m[j] = x[i + j] > m[j] ? x[i + j] : m[j];
  for (int j = 0; i < n; ++i, ++j) m[j] = x[i] > m[j] ? x[i] : m[j];
  for (int j = 1; j < kSumLanes; ++j) m[0] = m[j] > m[0] ? m[j] : m[0];
  return m[0];
}

// sum of exp(x[i] - shift) over [0, n), also storing each term to e[i] unless e is null.
inline float exp_shifted_sum(const float* x, index_t n, float shift, float* e) {
  if (e == nullptr) return lane_sum<float>(0, n, [&](index_t i) { return std::exp(x[i] - shift); });
  return lane_sum<float>(0, n, [&](index_t i) { return e[i] = std::exp(x[i] - shift); });
}

// g = g * scale - shift over [0, n).
inline void scale_shift(float* g, index_t n, float scale, float shift) {
  for (index_t i = 0; i < n; ++i) g[i] = g[i] * scale - shift;
}

}  // namespace kiln::detail
