// Max and average pooling: each (image, channel) plane is independent, so threads take
// whole planes. Within a plane, each window's range of input rows and columns is
// clipped to the input once, so the inner loops never test bounds.
#include "kiln/pool2d.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "check.hpp"
#include "parallel.hpp"

namespace kiln {

namespace {

// torch's pooling_output_shape: floor or ceil, and with ceil a window must start inside
// the input or its left padding.
index_t pooled_size(index_t in, index_t kernel, index_t stride, index_t pad, index_t dilation,
                    bool ceil_mode) {
  const index_t span = in + 2 * pad - dilation * (kernel - 1) - 1;
  const index_t rounding = ceil_mode ? stride - 1 : 0;
  // Floor division also for a negative span (too small an input): the size is then < 1.
  index_t out = (span + rounding >= 0 ? (span + rounding) / stride
                                      : -((-(span + rounding) + stride - 1) / stride)) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

// The first of the window's taps start + t*dilation (t < kernel) inside [0, size), and
// one past the last, as tap numbers: [first, last) is empty when no tap is inside.
struct TapRange {
  index_t first, last;
};

TapRange taps_inside(index_t start, index_t kernel, index_t dilation, index_t size) {
  const index_t first = start >= 0 ? 0 : (-start + dilation - 1) / dilation;
  const index_t last = start >= size ? 0 : std::min(kernel, (size - 1 - start) / dilation + 1);
  return {first, std::max(first, last)};
}

void check_params(const Pool2dParams& p, const char* fn) {
  const index_t values[] = {p.n, p.c, p.h, p.w, p.kernel_h, p.kernel_w, p.stride_h, p.stride_w,
                            p.pad_h, p.pad_w, p.dilation_h, p.dilation_w};
  for (index_t v : values) {
    KILN_CHECK(v <= kMaxElements, fn << ": a size or parameter is " << v
                                     << ", more than kiln's limit of " << kMaxElements);
  }
  KILN_CHECK(p.n >= 0 && p.c >= 0 && p.h >= 0 && p.w >= 0,
             fn << ": sizes must be >= 0, got x (" << p.n << ", " << p.c << ", " << p.h << ", "
                << p.w << ")");
  KILN_CHECK(p.kernel_h >= 1 && p.kernel_w >= 1,
             fn << ": kernel_size must be >= 1, got (" << p.kernel_h << ", " << p.kernel_w << ")");
  KILN_CHECK(p.stride_h >= 1 && p.stride_w >= 1,
             fn << ": stride must be >= 1, got (" << p.stride_h << ", " << p.stride_w << ")");
  KILN_CHECK(p.dilation_h >= 1 && p.dilation_w >= 1,
             fn << ": dilation must be >= 1, got (" << p.dilation_h << ", " << p.dilation_w << ")");
  KILN_CHECK(p.pad_h >= 0 && p.pad_w >= 0 && p.pad_h <= p.kernel_h / 2 && p.pad_w <= p.kernel_w / 2,
             fn << ": padding must be >= 0 and at most half the kernel size, got padding ("
                << p.pad_h << ", " << p.pad_w << ") for kernel (" << p.kernel_h << ", "
                << p.kernel_w << ")");
  const index_t out_h = p.out_h(), out_w = p.out_w();
  KILN_CHECK(out_h >= 1 && out_w >= 1,
             fn << ": the input (" << p.h << ", " << p.w << ") is too small: output size ("
                << out_h << ", " << out_w << ")");
  detail::checked_size(fn, "x", p.n, p.c, p.h, p.w);
  detail::checked_size(fn, "y", p.n, p.c, out_h, out_w);
}

// The window of output row (or column) o along one axis: taps inside the input.
TapRange window(index_t o, index_t kernel, index_t stride, index_t pad, index_t dilation,
                index_t size) {
  return taps_inside(o * stride - pad, kernel, dilation, size);
}

int threads_for_planes(index_t planes, double work) {
  return static_cast<int>(std::min<index_t>(detail::threads_for(work), std::max<index_t>(planes, 1)));
}

// Average pooling's divisor for the window starting at (h0, w0), as torch computes it.
index_t avg_divisor(const Pool2dParams& p, index_t h0, index_t w0, bool count_include_pad,
                    index_t divisor_override) {
  if (divisor_override != 0) return divisor_override;
  const index_t h1 = std::min(h0 + p.kernel_h, p.h + p.pad_h);
  const index_t w1 = std::min(w0 + p.kernel_w, p.w + p.pad_w);
  if (count_include_pad) return (h1 - h0) * (w1 - w0);
  return (std::min(h1, p.h) - std::max<index_t>(h0, 0)) * (std::min(w1, p.w) - std::max<index_t>(w0, 0));
}

void check_avg_params(const Pool2dParams& p, const char* fn) {
  check_params(p, fn);
  KILN_CHECK(p.dilation_h == 1 && p.dilation_w == 1,
             fn << ": average pooling has no dilation, got (" << p.dilation_h << ", "
                << p.dilation_w << ")");
}

// Max pooling also refuses a window with no input element (with dilation, its taps can
// straddle a small input), which has no maximum to point at.
void check_max_params(const Pool2dParams& p, const char* fn) {
  check_params(p, fn);
  for (index_t o = 0; o < p.out_h(); ++o) {
    const TapRange t = window(o, p.kernel_h, p.stride_h, p.pad_h, p.dilation_h, p.h);
    KILN_CHECK(t.first < t.last, fn << ": the window of output row " << o
                                    << " covers only padding (dilation " << p.dilation_h << ")");
  }
  for (index_t o = 0; o < p.out_w(); ++o) {
    const TapRange t = window(o, p.kernel_w, p.stride_w, p.pad_w, p.dilation_w, p.w);
    KILN_CHECK(t.first < t.last, fn << ": the window of output column " << o
                                    << " covers only padding (dilation " << p.dilation_w << ")");
  }
}

// [lo, hi) of the outputs o < out whose tap o*stride + offset lies in [0, size).
void outputs_inside(index_t out, index_t stride, index_t offset, index_t size, index_t& lo,
                    index_t& hi) {
  lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  hi = offset >= size ? 0 : std::min(out, (size - 1 - offset) / stride + 1);
  lo = std::min(lo, hi);
}

// One tap (input row x_row, column offset `offset`) of max pooling over a row of
// outputs: best and at take the tap where it is larger or NaN (so, with the taps
// visited in window order, the first maximum or the last NaN wins, as in torch).
// Branch-free over ow, so that it vectorises; SW is the stride, 0 when not 1 or 2.
template <int SW>
void max_tap(const float* __restrict x_row, index_t row_at, index_t stride, index_t offset,
             index_t lo, index_t hi, float* __restrict best, std::int32_t* __restrict at) {
  const index_t sw = SW ? SW : stride;
  for (index_t ow = lo; ow < hi; ++ow) {
    const float v = x_row[ow * sw + offset];
    const bool take = v > best[ow] || v != v;
    best[ow] = take ? v : best[ow];
    at[ow] = take ? static_cast<std::int32_t>(row_at + ow * sw + offset) : at[ow];
  }
}

template <int SW>
void sum_tap(const float* __restrict x_row, index_t stride, index_t offset, index_t lo, index_t hi,
             float* __restrict sum) {
  const index_t sw = SW ? SW : stride;
  for (index_t ow = lo; ow < hi; ++ow) sum[ow] += x_row[ow * sw + offset];
}

template <int SW>
void spread_tap(const float* __restrict share, index_t stride, index_t offset, index_t lo, index_t hi,
                float* __restrict dx_row) {
  const index_t sw = SW ? SW : stride;
  for (index_t ow = lo; ow < hi; ++ow) dx_row[ow * sw + offset] += share[ow];
}

// Below this many outputs per row, the tap-by-tap vector loops cost more in setup than
// they save: small planes (late layers of a small image model) go window by window.
constexpr index_t kNarrowRow = 8;

std::uint32_t float_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
float bit_float(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Max pooling window by window, the taps in window order (the same first-maximum and
// last-NaN rule as max_tap).
void max_pool2d_narrow(const Pool2dParams& p, const float* x, float* y, std::int64_t* indices,
                       const TapRange* row_window, const TapRange* col_window, int nthreads) {
  const index_t out_h = p.out_h(), out_w = p.out_w(), planes = p.n * p.c;
  detail::parallel_for(planes, nthreads, [&](index_t plane) {
    const float* x_plane = x + plane * p.h * p.w;
    float* y_plane = y + plane * out_h * out_w;
    std::int64_t* index_plane = indices ? indices + plane * out_h * out_w : nullptr;
    for (index_t oh = 0; oh < out_h; ++oh) {
      const index_t h0 = oh * p.stride_h - p.pad_h;
      for (index_t ow = 0; ow < out_w; ++ow) {
        const index_t w0 = ow * p.stride_w - p.pad_w;
        const TapRange rows = row_window[oh], cols = col_window[ow];
        float best = -std::numeric_limits<float>::infinity();
        index_t at = (h0 + rows.first * p.dilation_h) * p.w + w0 + cols.first * p.dilation_w;
        for (index_t i = rows.first; i < rows.last; ++i) {
          const index_t row_at = (h0 + i * p.dilation_h) * p.w + w0;
          for (index_t j = cols.first; j < cols.last; ++j) {
            const index_t pos = row_at + j * p.dilation_w;
            const float v = x_plane[pos];
            // Masks, not `take ? v : best`, which the compiler turns back into a branch that
            // real data mispredicts half the time (~400 instead of ~250 us for 32x32x8x8).
            const bool take = (v > best) | (v != v);
            const std::uint32_t keep = static_cast<std::uint32_t>(take) - 1u;  // take: 0, else ~0
            const index_t keep_index = static_cast<index_t>(static_cast<std::int32_t>(keep));
            best = bit_float((float_bits(v) & ~keep) | (float_bits(best) & keep));
            at = (pos & ~keep_index) | (at & keep_index);
          }
        }
        y_plane[oh * out_w + ow] = best;
        if (index_plane) index_plane[oh * out_w + ow] = at;
      }
    }
  });
}

// 2x2 windows at stride 2, all inside the plane (Keras's MaxPooling2D(2), torch's
// max_pool2d(x, 2)) and rows too short for the tap-by-tap loops: each output's four taps in
// window order under max_tap's rule (a greater value or a NaN takes the place), as selects the
// compiler vectorises across a row's outputs. The window-by-window path carries one running
// maximum through loops of run-time length: ~8 cycles a tap on a small model's 8x8 planes.
void max_pool2d_2x2(const Pool2dParams& p, const float* x, float* y, std::int64_t* indices,
                    int nthreads) {
  const index_t out_h = p.out_h(), out_w = p.out_w(), w = p.w;
  detail::parallel_for(p.n * p.c, nthreads, [&](index_t plane) {
    const float* x_plane = x + plane * p.h * w;
    float* y_row = y + plane * out_h * out_w;
    std::int64_t* index_row = indices ? indices + plane * out_h * out_w : nullptr;
    for (index_t oh = 0; oh < out_h; ++oh, y_row += out_w) {
      const index_t top = 2 * oh * w;
      const float* __restrict r0 = x_plane + top;
      const float* __restrict r1 = r0 + w;
      float* __restrict out = y_row;
      // The winning tap's offset as a float select too: integer selects became branches,
      // which random data mispredicts (176 instead of 26 us for 32x32x8x8).
      float offset[kNarrowRow];
      const float right = 1.0f, below = static_cast<float>(w), below_right = below + 1.0f;
      for (index_t ow = 0; ow < out_w; ++ow) {
        const float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
        const bool take_b = (b > a) | (b != b);
        const float m1 = take_b ? b : a, o1 = take_b ? right : 0.0f;
        const bool take_c = (c > m1) | (c != c);
        const float m2 = take_c ? c : m1, o2 = take_c ? below : o1;
        const bool take_d = (d > m2) | (d != d);
        out[ow] = take_d ? d : m2;
        offset[ow] = take_d ? below_right : o2;
      }
      if (index_row) {
        for (index_t ow = 0; ow < out_w; ++ow)
          index_row[ow] = top + 2 * ow + static_cast<index_t>(offset[ow]);
        index_row += out_w;
      }
    }
  });
}

}  // namespace

index_t Pool2dParams::out_h() const {
  return pooled_size(h, kernel_h, stride_h, pad_h, dilation_h, ceil_mode);
}
index_t Pool2dParams::out_w() const {
  return pooled_size(w, kernel_w, stride_w, pad_w, dilation_w, ceil_mode);
}

void max_pool2d_check(const Pool2dParams& p) { check_max_params(p, "max_pool2d"); }
void avg_pool2d_check(const Pool2dParams& p) { check_avg_params(p, "avg_pool2d"); }

void max_pool2d_forward(const Pool2dParams& p, const float* x, float* y, std::int64_t* indices) {
  constexpr const char* fn = "max_pool2d_forward";
  check_max_params(p, fn);
  const index_t out_h = p.out_h(), out_w = p.out_w();
  const index_t planes = p.n * p.c;
  if (planes == 0) return;
  KILN_CHECK(x != nullptr && y != nullptr, fn << ": x or y is null");

  const int nthreads = threads_for_planes(planes, static_cast<double>(planes) * out_h * out_w *
                                                      p.kernel_h * p.kernel_w);
  if (out_w < kNarrowRow && p.kernel_h == 2 && p.kernel_w == 2 && p.stride_h == 2 &&
      p.stride_w == 2 && p.pad_h == 0 && p.pad_w == 0 && p.dilation_h == 1 && p.dilation_w == 1 &&
      2 * out_h <= p.h && 2 * out_w <= p.w) {
    max_pool2d_2x2(p, x, y, indices, nthreads);
    return;
  }
  // Per output row, tap by tap over the whole row of outputs (a vector loop along W).
  // A plane has at most kMaxElements elements, so its positions fit 32 bits. The windows
  // and each tap's range of outputs depend only on the row and tap, not on the plane:
  // computed once here, since their divisions cost more than a small plane's compares.
  std::vector<TapRange> row_window(static_cast<std::size_t>(out_h));
  for (index_t oh = 0; oh < out_h; ++oh) {
    row_window[oh] = window(oh, p.kernel_h, p.stride_h, p.pad_h, p.dilation_h, p.h);
  }
  std::vector<std::int32_t> first_col(static_cast<std::size_t>(out_w));
  std::vector<TapRange> col_window(static_cast<std::size_t>(out_w));
  for (index_t ow = 0; ow < out_w; ++ow) {
    col_window[ow] = window(ow, p.kernel_w, p.stride_w, p.pad_w, p.dilation_w, p.w);
    first_col[ow] = static_cast<std::int32_t>(ow * p.stride_w - p.pad_w + col_window[ow].first * p.dilation_w);
  }
  if (out_w < kNarrowRow) {
    max_pool2d_narrow(p, x, y, indices, row_window.data(), col_window.data(), nthreads);
    return;
  }
  std::vector<index_t> tap_lo(static_cast<std::size_t>(p.kernel_w)), tap_hi(tap_lo.size());
  for (index_t j = 0; j < p.kernel_w; ++j) {
    outputs_inside(out_w, p.stride_w, j * p.dilation_w - p.pad_w, p.w, tap_lo[j], tap_hi[j]);
  }
  detail::parallel(nthreads, [&](int t, int nt) {
    std::vector<float> best(static_cast<std::size_t>(out_w));
    std::vector<std::int32_t> at(static_cast<std::size_t>(out_w));
    index_t first_plane, end_plane;
    detail::split_range(planes, t, nt, 1, first_plane, end_plane);
    for (index_t plane = first_plane; plane < end_plane; ++plane) {
      const float* x_plane = x + plane * p.h * p.w;
      float* y_row = y + plane * out_h * out_w;
      std::int64_t* index_row = indices ? indices + plane * out_h * out_w : nullptr;
      for (index_t oh = 0; oh < out_h; ++oh, y_row += out_w) {
        const index_t h0 = oh * p.stride_h - p.pad_h;
        const TapRange rows = row_window[oh];
        const auto first_row = static_cast<std::int32_t>((h0 + rows.first * p.dilation_h) * p.w);
        for (index_t ow = 0; ow < out_w; ++ow) {
          best[ow] = -std::numeric_limits<float>::infinity();
          at[ow] = first_row + first_col[ow];
        }
        for (index_t i = rows.first; i < rows.last; ++i) {
          const index_t row_at = (h0 + i * p.dilation_h) * p.w;
          for (index_t j = 0; j < p.kernel_w; ++j) {
            const index_t offset = j * p.dilation_w - p.pad_w, lo = tap_lo[j], hi = tap_hi[j];
            if (p.stride_w == 1) {
              max_tap<1>(x_plane + row_at, row_at, 1, offset, lo, hi, best.data(), at.data());
            } else if (p.stride_w == 2) {
              max_tap<2>(x_plane + row_at, row_at, 2, offset, lo, hi, best.data(), at.data());
            } else {
              max_tap<0>(x_plane + row_at, row_at, p.stride_w, offset, lo, hi, best.data(), at.data());
            }
          }
        }
        std::copy(best.begin(), best.end(), y_row);
        if (index_row) {
          std::copy(at.begin(), at.end(), index_row);
          index_row += out_w;
        }
      }
    }
  });
}

void max_pool2d_backward_scatter(index_t planes, index_t in_size, index_t out_size,
                                 const float* dy, const std::int64_t* indices, float* dx) {
  constexpr const char* fn = "max_pool2d_backward";
  KILN_CHECK(planes >= 0 && in_size >= 0 && out_size >= 0,
             fn << ": sizes must be >= 0, got " << planes << " planes of " << in_size
                << " inputs and " << out_size << " outputs");
  const index_t dx_size = detail::checked_size(fn, "dx", planes, in_size);
  const index_t dy_size = detail::checked_size(fn, "dy", planes, out_size);
  if (dx_size == 0 && dy_size == 0) return;
  KILN_CHECK(dx != nullptr && (dy_size == 0 || (dy != nullptr && indices != nullptr)),
             fn << ": dx, dy or indices is null");
  // Every index is checked before anything is written: a vectorised (unsigned compare
  // catches negatives too), threaded pass, then a search for the first bad one to name.
  const auto limit = static_cast<std::uint64_t>(in_size);
  std::atomic<bool> out_of_range{false};
  const int check_threads = threads_for_planes(planes, static_cast<double>(dy_size));
  detail::parallel(check_threads, [&](int t, int nt) {
    index_t begin, end;
    detail::split_range(dy_size, t, nt, 1, begin, end);
    int any = 0;
    for (index_t i = begin; i < end; ++i) any |= static_cast<std::uint64_t>(indices[i]) >= limit;
    if (any) out_of_range.store(true, std::memory_order_relaxed);
  });
  index_t bad = -1;
  for (index_t i = 0; out_of_range && i < dy_size && bad < 0; ++i)
    if (static_cast<std::uint64_t>(indices[i]) >= limit) bad = i;
  KILN_CHECK(bad < 0, fn << ": indices must lie in [0, " << in_size << "), the size of a plane: indices["
                         << bad << "] (flat) is " << (bad >= 0 ? indices[bad] : 0)
                         << ", outside its plane");

  const int nthreads = threads_for_planes(planes, static_cast<double>(dx_size + dy_size));
  detail::parallel_for(planes, nthreads, [&](index_t plane) {
    float* dx_plane = dx + plane * in_size;
    const float* dy_plane = dy + plane * out_size;
    const std::int64_t* index_plane = indices + plane * out_size;
    std::fill(dx_plane, dx_plane + in_size, 0.0f);
    for (index_t i = 0; i < out_size; ++i) dx_plane[index_plane[i]] += dy_plane[i];
  });
}

void max_pool2d_backward(const Pool2dParams& p, const float* dy, const std::int64_t* indices,
                         float* dx) {
  check_max_params(p, "max_pool2d_backward");
  max_pool2d_backward_scatter(p.n * p.c, p.h * p.w, p.out_h() * p.out_w(), dy, indices, dx);
}

void avg_pool2d_forward(const Pool2dParams& p, const float* x, float* y, bool count_include_pad,
                        index_t divisor_override) {
  constexpr const char* fn = "avg_pool2d_forward";
  check_avg_params(p, fn);
  const index_t out_h = p.out_h(), out_w = p.out_w(), planes = p.n * p.c;
  if (planes == 0) return;
  KILN_CHECK(x != nullptr && y != nullptr, fn << ": x or y is null");

  const int nthreads = threads_for_planes(planes, static_cast<double>(planes) * out_h * out_w *
                                                      p.kernel_h * p.kernel_w);
  detail::parallel(nthreads, [&](int t, int nt) {
    std::vector<float> sum(static_cast<std::size_t>(out_w));
    index_t first_plane, end_plane;
    detail::split_range(planes, t, nt, 1, first_plane, end_plane);
    for (index_t plane = first_plane; plane < end_plane; ++plane) {
      const float* x_plane = x + plane * p.h * p.w;
      float* y_row = y + plane * out_h * out_w;
      for (index_t oh = 0; oh < out_h; ++oh, y_row += out_w) {
        const index_t h0 = oh * p.stride_h - p.pad_h;
        const index_t row_begin = std::max<index_t>(h0, 0), row_end = std::min(h0 + p.kernel_h, p.h);
        std::fill(sum.begin(), sum.end(), 0.0f);
        // Summed row by row, tap by tap: the order the window's elements are read in.
        for (index_t i = row_begin; i < row_end; ++i) {
          const float* x_row = x_plane + i * p.w;
          for (index_t j = 0; j < p.kernel_w; ++j) {
            index_t lo, hi;
            outputs_inside(out_w, p.stride_w, j - p.pad_w, p.w, lo, hi);
            if (p.stride_w == 1) {
              sum_tap<1>(x_row, 1, j - p.pad_w, lo, hi, sum.data());
            } else if (p.stride_w == 2) {
              sum_tap<2>(x_row, 2, j - p.pad_w, lo, hi, sum.data());
            } else {
              sum_tap<0>(x_row, p.stride_w, j - p.pad_w, lo, hi, sum.data());
            }
          }
        }
        for (index_t ow = 0; ow < out_w; ++ow) {
          const index_t w0 = ow * p.stride_w - p.pad_w;
          const index_t col_begin = std::max<index_t>(w0, 0), col_end = std::min(w0 + p.kernel_w, p.w);
          const bool empty = row_begin >= row_end || col_begin >= col_end;
          y_row[ow] = empty ? 0.0f
                            : sum[ow] / static_cast<float>(avg_divisor(p, h0, w0, count_include_pad,
                                                                       divisor_override));
        }
      }
    }
  });
}

void avg_pool2d_backward(const Pool2dParams& p, const float* dy, float* dx, bool count_include_pad,
                         index_t divisor_override) {
  constexpr const char* fn = "avg_pool2d_backward";
  check_avg_params(p, fn);
  const index_t out_h = p.out_h(), out_w = p.out_w(), planes = p.n * p.c;
  if (planes == 0) return;
  KILN_CHECK(dy != nullptr && dx != nullptr, fn << ": dy or dx is null");

  const int nthreads = threads_for_planes(planes, static_cast<double>(planes) * out_h * out_w *
                                                      p.kernel_h * p.kernel_w);
  detail::parallel(nthreads, [&](int t, int nt) {
    std::vector<float> share(static_cast<std::size_t>(out_w));
    index_t first_plane, end_plane;
    detail::split_range(planes, t, nt, 1, first_plane, end_plane);
    for (index_t plane = first_plane; plane < end_plane; ++plane) {
      float* dx_plane = dx + plane * p.h * p.w;
      const float* dy_row = dy + plane * out_h * out_w;
      std::fill(dx_plane, dx_plane + p.h * p.w, 0.0f);
      for (index_t oh = 0; oh < out_h; ++oh, dy_row += out_w) {
        const index_t h0 = oh * p.stride_h - p.pad_h;
        const index_t row_begin = std::max<index_t>(h0, 0), row_end = std::min(h0 + p.kernel_h, p.h);
        for (index_t ow = 0; ow < out_w; ++ow) {
          const index_t w0 = ow * p.stride_w - p.pad_w;
          share[ow] = dy_row[ow] / static_cast<float>(avg_divisor(p, h0, w0, count_include_pad,
                                                                   divisor_override));
        }
        // Tap by tap along the row: for one tap, outputs ow reach distinct inputs.
        for (index_t i = row_begin; i < row_end; ++i) {
          float* dx_row = dx_plane + i * p.w;
          for (index_t j = 0; j < p.kernel_w; ++j) {
            index_t lo, hi;
            outputs_inside(out_w, p.stride_w, j - p.pad_w, p.w, lo, hi);
            if (p.stride_w == 1) {
              spread_tap<1>(share.data(), 1, j - p.pad_w, lo, hi, dx_row);
            } else if (p.stride_w == 2) {
              spread_tap<2>(share.data(), 2, j - p.pad_w, lo, hi, dx_row);
            } else {
              spread_tap<0>(share.data(), p.stride_w, j - p.pad_w, lo, hi, dx_row);
            }
          }
        }
      }
    }
  });
}

}  // namespace kiln
