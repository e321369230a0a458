// Adaptive pooling: threads take whole (image, channel) planes. Per output row i the
// average first sums its window's input rows into one row of W floats (contiguous,
// vectorised by the compiler), then each output column sums its span of that row; the
// backward runs the same two steps the other way (spread into a row, the row added to
// each input row of the window). The max scans each window row by row.
#include "kiln/adaptive_pool2d.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "check.hpp"
#include "kiln/pool2d.hpp"
#include "parallel.hpp"

namespace kiln {

namespace {

void check_params(const AdaptivePool2dParams& p, const char* fn) {
  const index_t values[] = {p.n, p.c, p.h, p.w, p.out_h, p.out_w};
  for (index_t v : values) {
    KILN_CHECK(v >= 0 && v <= kMaxElements,
               fn << ": a size is " << v << ", outside [0, " << kMaxElements << "]");
  }
  KILN_CHECK(p.h >= 1 && p.w >= 1, fn << ": the input planes must not be empty, got (" << p.h << ", " << p.w << ")");
  KILN_CHECK(p.out_h >= 1 && p.out_w >= 1,
             fn << ": the output size must be >= 1, got (" << p.out_h << ", " << p.out_w << ")");
  detail::checked_size(fn, "x", p.n, p.c, p.h, p.w);
  detail::checked_size(fn, "y", p.n, p.c, p.out_h, p.out_w);
}

// Work of one pass over every plane: each input element is read about (OH/H + 1) times.
int threads_for(const AdaptivePool2dParams& p) {
  const index_t planes = p.n * p.c;
  const double work = static_cast<double>(planes) * (p.h + p.out_h) * (p.w + p.out_w);
  return static_cast<int>(std::min<index_t>(detail::threads_for(work), std::max<index_t>(planes, 1)));
}

template <typename PlaneFn>
void for_planes(const AdaptivePool2dParams& p, PlaneFn&& body) {
  const index_t planes = p.n * p.c;
  detail::parallel(threads_for(p), [&](int t, int nt) {
    std::vector<float> row(static_cast<std::size_t>(p.w));
    index_t begin, end;
    detail::split_range(planes, t, nt, 1, begin, end);
    for (index_t plane = begin; plane < end; ++plane) body(plane, row.data());
  });
}

}  // namespace

void adaptive_pool2d_check(const AdaptivePool2dParams& p) { check_params(p, "adaptive_pool2d"); }

void adaptive_avg_pool2d_forward(const AdaptivePool2dParams& p, const float* x, float* y) {
  constexpr const char* fn = "adaptive_avg_pool2d_forward";
  check_params(p, fn);
  if (p.n * p.c == 0) return;
  KILN_CHECK(x != nullptr && y != nullptr, fn << ": x or y is null");
  for_planes(p, [&](index_t plane, float* row) {
    const float* src = x + plane * p.h * p.w;
    float* out = y + plane * p.out_h * p.out_w;
    for (index_t i = 0; i < p.out_h; ++i) {
      const index_t h0 = adaptive_start(i, p.h, p.out_h), h1 = adaptive_end(i, p.h, p.out_h);
      std::copy(src + h0 * p.w, src + (h0 + 1) * p.w, row);
      for (index_t h = h0 + 1; h < h1; ++h) {
        const float* line = src + h * p.w;
        for (index_t q = 0; q < p.w; ++q) row[q] += line[q];
      }
      for (index_t j = 0; j < p.out_w; ++j) {
        const index_t w0 = adaptive_start(j, p.w, p.out_w), w1 = adaptive_end(j, p.w, p.out_w);
        float sum = 0.0f;
        for (index_t q = w0; q < w1; ++q) sum += row[q];
        out[i * p.out_w + j] = sum / static_cast<float>((h1 - h0) * (w1 - w0));
      }
    }
  });
}

void adaptive_avg_pool2d_backward(const AdaptivePool2dParams& p, const float* dy, float* dx) {
  constexpr const char* fn = "adaptive_avg_pool2d_backward";
  check_params(p, fn);
  if (p.n * p.c == 0) return;
  KILN_CHECK(dy != nullptr && dx != nullptr, fn << ": dy or dx is null");
  for_planes(p, [&](index_t plane, float* row) {
    const float* grad = dy + plane * p.out_h * p.out_w;
    float* out = dx + plane * p.h * p.w;
    std::fill(out, out + p.h * p.w, 0.0f);
    for (index_t i = 0; i < p.out_h; ++i) {
      const index_t h0 = adaptive_start(i, p.h, p.out_h), h1 = adaptive_end(i, p.h, p.out_h);
      std::fill(row, row + p.w, 0.0f);
      for (index_t j = 0; j < p.out_w; ++j) {
        const index_t w0 = adaptive_start(j, p.w, p.out_w), w1 = adaptive_end(j, p.w, p.out_w);
        const float share = grad[i * p.out_w + j] / static_cast<float>((h1 - h0) * (w1 - w0));
        for (index_t q = w0; q < w1; ++q) row[q] += share;
      }
      for (index_t h = h0; h < h1; ++h) {
        float* line = out + h * p.w;
        for (index_t q = 0; q < p.w; ++q) line[q] += row[q];
      }
    }
  });
}

void adaptive_max_pool2d_forward(const AdaptivePool2dParams& p, const float* x, float* y,
                                 std::int64_t* indices) {
  constexpr const char* fn = "adaptive_max_pool2d_forward";
  check_params(p, fn);
  if (p.n * p.c == 0) return;
  KILN_CHECK(x != nullptr && y != nullptr, fn << ": x or y is null");
  for_planes(p, [&](index_t plane, float*) {
    const float* src = x + plane * p.h * p.w;
    const index_t first_out = plane * p.out_h * p.out_w;
    for (index_t i = 0; i < p.out_h; ++i) {
      const index_t h0 = adaptive_start(i, p.h, p.out_h), h1 = adaptive_end(i, p.h, p.out_h);
      for (index_t j = 0; j < p.out_w; ++j) {
        const index_t w0 = adaptive_start(j, p.w, p.out_w), w1 = adaptive_end(j, p.w, p.out_w);
        float best = -std::numeric_limits<float>::infinity();
        index_t where = h0 * p.w + w0;
        for (index_t h = h0; h < h1; ++h)
          for (index_t q = w0; q < w1; ++q) {
            const float v = src[h * p.w + q];
            if (v > best || std::isnan(v)) best = v, where = h * p.w + q;
          }
        y[first_out + i * p.out_w + j] = best;
        if (indices) indices[first_out + i * p.out_w + j] = where;
      }
    }
  });
}

void adaptive_max_pool2d_backward(const AdaptivePool2dParams& p, const float* dy,
                                  const std::int64_t* indices, float* dx) {
  check_params(p, "adaptive_max_pool2d_backward");
  max_pool2d_backward_scatter(p.n * p.c, p.h * p.w, p.out_h * p.out_w, dy, indices, dx);
}

}  // namespace kiln
