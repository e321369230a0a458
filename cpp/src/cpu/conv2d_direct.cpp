// The direct convolution: threads take (image, group, block of output rows) tasks; each
// lays out its block's tap planes, then runs the row kernel over blocks of 4 filters (and
// single filters past the last whole block), writing y in place.
#include "conv2d_direct.hpp"

#include <algorithm>
#include <vector>

#include "dispatch.hpp"
#include "parallel_tasks.hpp"

namespace kiln::detail {
namespace {

template <int F>
void row_portable(index_t taps, const index_t* offsets, const float* x, const float* w, index_t width,
                  float* out, index_t ld) {
  for (index_t j0 = 0; j0 < width; j0 += 8) {
    const index_t n = std::min<index_t>(8, width - j0);
    float acc[F][8] = {};
    for (index_t t = 0; t < taps; ++t) {
      const float* xt = x + offsets[t] + j0;
      for (int f = 0; f < F; ++f) {
        const float wf = w[F * t + f];
        for (index_t v = 0; v < n; ++v) acc[f][v] += wf * xt[v];
      }
    }
    for (int f = 0; f < F; ++f) std::copy(acc[f], acc[f] + n, out + f * ld + j0);
  }
}

template <int F>
void dot_portable(index_t taps, const index_t* offsets, const float* x, const float* dy, index_t ld,
                  index_t width, float* dw) {
  for (int f = 0; f < F; ++f)
    for (index_t t = 0; t < taps; ++t) {
      const float* xt = x + offsets[t];
      const float* d = dy + f * ld;
      float sum = 0.0f;
      for (index_t j = 0; j < width; ++j) sum += d[j] * xt[j];
      dw[f * taps + t] += sum;
    }
}

// Floats of one task's tap planes: 256 KiB, an L2 share.
constexpr index_t kTapPlaneFloats = 64 * 1024;

// The geometry of the tap planes of one block of `rows` output rows.
struct TapPlanes {
  bool row_shifts;     // stride_h 1: planes per (c, s), taps of one plane are row shifts
  index_t plane_rows;  // rows of each plane
  index_t floats;      // all planes, then `rows * OW` ones when a bias tap is wanted
};

TapPlanes tap_planes(const Conv2dParams& p, index_t rows) {
  const index_t cg = p.c / p.groups, out_w = p.out_w();
  TapPlanes t{};
  t.row_shifts = p.stride_h == 1;
  t.plane_rows = t.row_shifts ? rows + (p.r - 1) * p.dilation_h : rows;
  const index_t planes = t.row_shifts ? cg * p.s : cg * p.r * p.s;
  t.floats = planes * t.plane_rows * out_w;
  return t;
}

// Output rows per task: as many as have their tap planes within kTapPlaneFloats.
index_t tap_block_rows(const Conv2dParams& p) {
  const index_t per_row = tap_planes(p, 2).floats - tap_planes(p, 1).floats;
  return std::clamp<index_t>(kTapPlaneFloats / std::max<index_t>(per_row, 1), 1, p.out_h());
}

// dst[ow] = x_row[ow * stride_w + col0] where that lies in [0, W), else 0 (x_row null: all 0).
// Rows are a few dozen floats: plain loops, no library calls.
void fill_plane_row(const Conv2dParams& p, index_t out_w, const float* x_row, index_t col0, float* dst) {
  if (!x_row) {
    for (index_t ow = 0; ow < out_w; ++ow) dst[ow] = 0.0f;
    return;
  }
  if (p.stride_w == 1) {
    const index_t lo = std::clamp<index_t>(-col0, 0, out_w), hi = std::clamp<index_t>(p.w - col0, lo, out_w);
    for (index_t ow = 0; ow < lo; ++ow) dst[ow] = 0.0f;
    const float* src = x_row + col0;
    for (index_t ow = lo; ow < hi; ++ow) dst[ow] = src[ow];
    for (index_t ow = hi; ow < out_w; ++ow) dst[ow] = 0.0f;
    return;
  }
  for (index_t ow = 0; ow < out_w; ++ow) {
    const index_t col = ow * p.stride_w + col0;
    dst[ow] = col >= 0 && col < p.w ? x_row[col] : 0.0f;
  }
}

// With stride_w 1 and OW == W, rows [h0, h0 + rows) of plane x_c shifted by col0 columns
// are one flat copy of x_c shifted by h0 * W + col0, with the columns that wrapped into a
// neighbouring row then zeroed, and zero rows outside the input.
void shifted_plane(const Conv2dParams& p, const float* x_c, index_t h0, index_t rows, index_t col0,
                   float* dst) {
  const index_t w = p.w;
  const index_t i_lo = std::clamp<index_t>(-h0, 0, rows), i_hi = std::clamp<index_t>(p.h - h0, i_lo, rows);
  std::fill(dst, dst + i_lo * w, 0.0f);
  std::fill(dst + i_hi * w, dst + rows * w, 0.0f);
  // Element j of the plane reads x_c[h0 * w + col0 + j]: clamp to x_c; what the clamp
  // leaves out is a wrapped column.
  const index_t shift = h0 * w + col0;
  const index_t j_lo = std::max(i_lo * w, -shift), j_hi = std::min(i_hi * w, p.h * w - shift);
  if (j_hi > j_lo) std::copy(x_c + shift + j_lo, x_c + shift + j_hi, dst + j_lo);
  const index_t zero_lo = col0 < 0 ? 0 : w - std::min(col0, w), zero_hi = col0 < 0 ? std::min(-col0, w) : w;
  for (index_t i = i_lo; i < i_hi; ++i)
    for (index_t ow = zero_lo; ow < zero_hi; ++ow) dst[i * w + ow] = 0.0f;
}

// The tap planes of output rows [oh0, oh0 + rows) of one image's group x_g (C/g planes of
// H x W) into buf, and offsets[t] for each tap t = (c * R + r) * S + s.
void lay_out_taps(const Conv2dParams& p, const TapPlanes& t, const float* x_g, index_t oh0, index_t rows,
                  float* buf, index_t* offsets) {
  const index_t cg = p.c / p.groups, out_w = p.out_w();
  auto input_row = [&](index_t c, index_t h) { return h >= 0 && h < p.h ? x_g + (c * p.h + h) * p.w : nullptr; };
  for (index_t c = 0; c < cg; ++c)
    for (index_t r = 0; r < p.r; ++r)
      for (index_t s = 0; s < p.s; ++s) {
        const index_t tap = (c * p.r + r) * p.s + s;
        const index_t col0 = s * p.dilation_w - p.pad_w;
        if (t.row_shifts) {
          float* plane = buf + (s * cg + c) * t.plane_rows * out_w;
          offsets[tap] = (s * cg + c) * t.plane_rows * out_w + r * p.dilation_h * out_w;
          if (r != 0) continue;
          if (p.stride_w == 1 && out_w == p.w) {
            shifted_plane(p, x_g + c * p.h * p.w, oh0 - p.pad_h, t.plane_rows, col0, plane);
          } else {
            for (index_t i = 0; i < t.plane_rows; ++i)
              fill_plane_row(p, out_w, input_row(c, oh0 + i - p.pad_h), col0, plane + i * out_w);
          }
        } else {
          float* plane = buf + tap * rows * out_w;
          offsets[tap] = tap * rows * out_w;
          for (index_t i = 0; i < rows; ++i)
            fill_plane_row(p, out_w, input_row(c, (oh0 + i) * p.stride_h + r * p.dilation_h - p.pad_h), col0,
                           plane + i * out_w);
        }
      }
}

}  // namespace

void conv2d_direct_row_portable(index_t taps, const index_t* offsets, const float* x, const float* w4,
                                index_t width, float* out, index_t ld) {
  row_portable<4>(taps, offsets, x, w4, width, out, ld);
}

void conv2d_direct_row1_portable(index_t taps, const index_t* offsets, const float* x, const float* w,
                                 index_t width, float* out, index_t ld) {
  row_portable<1>(taps, offsets, x, w, width, out, ld);
}

void conv2d_direct_dot_portable(index_t taps, const index_t* offsets, const float* x, const float* dy,
                                index_t ld, index_t width, float* dw) {
  dot_portable<2>(taps, offsets, x, dy, ld, width, dw);
}

void conv2d_direct_dot1_portable(index_t taps, const index_t* offsets, const float* x, const float* dy,
                                 index_t ld, index_t width, float* dw) {
  dot_portable<1>(taps, offsets, x, dy, ld, width, dw);
}

bool conv2d_direct_suits(const Conv2dParams& p, int gemm_mr) {
  // A reduction this short leaves the GEMM micro-kernel storing its tile after a few
  // steps; fewer filters than its rows leave most of each tile empty. The row kernel
  // keeps 4 filters busy and has no tile to store between taps.
  const index_t taps = p.c / p.groups * p.r * p.s, filters = p.k / p.groups;
  return taps <= 32 || filters <= std::min(4, gemm_mr - 1);
}

void conv2d_forward_direct(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                           float* y) {
  const ConvDirectRowKernels rows_kernel = cpu_kernels().conv_direct_rows;
  const index_t cg = p.c / p.groups, kg = p.k / p.groups, taps = cg * p.r * p.s;
  const index_t out_h = p.out_h(), out_w = p.out_w(), pixels = out_h * out_w;
  const index_t all_taps = taps + (bias ? 1 : 0);  // the bias: a tap over a plane of ones

  const index_t block_rows = tap_block_rows(p), blocks = (out_h + block_rows - 1) / block_rows;

  // Filters in blocks of 4, tap-major (w4[t * 4 + f]), then the rest one by one (w[t]).
  const index_t kblocks = kg / 4;
  std::vector<float> packed(static_cast<std::size_t>(p.groups * kg * all_taps));
  for (index_t g = 0; g < p.groups; ++g)
    for (index_t k = 0; k < kg; ++k) {
      const index_t filters = k < kblocks * 4 ? 4 : 1, first = k < kblocks * 4 ? k / 4 * 4 : k;
      float* dst = packed.data() + (g * kg + first) * all_taps + (k - first);
      for (index_t t = 0; t < taps; ++t) dst[t * filters] = w[(g * kg + k) * taps + t];
      if (bias) dst[taps * filters] = bias[g * kg + k];
    }

  const index_t tasks = p.n * p.groups * blocks;
  const double flops = 2.0 * static_cast<double>(p.n) * p.k * pixels * taps;
  parallel_tasks(tasks, threads_for_tasks(flops, tasks), [&](index_t task) {
    const index_t b = task % blocks, g = task / blocks % p.groups, n = task / blocks / p.groups;
    const index_t oh0 = b * block_rows, rows = std::min(block_rows, out_h - oh0), width = rows * out_w;
    const TapPlanes t = tap_planes(p, rows);
    thread_local std::vector<float> buf;
    thread_local std::vector<index_t> offsets;
    buf.resize(static_cast<std::size_t>(t.floats + (bias ? width : 0)));
    offsets.resize(static_cast<std::size_t>(all_taps));
    lay_out_taps(p, t, x + (n * p.c + g * cg) * p.h * p.w, oh0, rows, buf.data(), offsets.data());
    if (bias) {
      std::fill(buf.data() + t.floats, buf.data() + t.floats + width, 1.0f);
      offsets[taps] = t.floats;
    }
    float* y_block = y + (n * p.k + g * kg) * pixels + oh0 * out_w;
    for (index_t k = 0; k < kg;) {
      const bool four = k < kblocks * 4;
      (four ? rows_kernel.four : rows_kernel.one)(all_taps, offsets.data(), buf.data(),
                                                  packed.data() + (g * kg + k) * all_taps, width,
                                                  y_block + k * pixels, pixels);
      k += four ? 4 : 1;
    }
  });
}

void conv2d_direct_product(index_t m, index_t k, const float* a, const float* b, index_t ldb, index_t width,
                           float* c, index_t ldc) {
  const ConvDirectRowKernels kernels = cpu_kernels().conv_direct_rows;
  thread_local std::vector<float> packed;
  thread_local std::vector<index_t> offsets;
  packed.resize(static_cast<std::size_t>(m * k));
  offsets.resize(static_cast<std::size_t>(k));
  for (index_t t = 0; t < k; ++t) offsets[t] = t * ldb;
  for (index_t i0 = 0; i0 < m;) {
    const index_t rows = i0 + 4 <= m ? 4 : 1;
    for (index_t t = 0; t < k; ++t)
      for (index_t f = 0; f < rows; ++f) packed[t * rows + f] = a[t * m + i0 + f];
    (rows == 4 ? kernels.four : kernels.one)(k, offsets.data(), b, packed.data(), width, c + i0 * ldc, ldc);
    i0 += rows;
  }
}

bool conv2d_weight_grad_direct_suits(const Conv2dParams& p) { return p.c / p.groups * p.r * p.s <= 32; }

void conv2d_weight_grad_direct(const Conv2dParams& p, const float* x, const float* dy, index_t n_begin,
                               index_t n_end, float* dw) {
  const ConvDirectRowKernels kernels = cpu_kernels().conv_direct_rows;
  const index_t cg = p.c / p.groups, kg = p.k / p.groups, taps = cg * p.r * p.s;
  const index_t out_h = p.out_h(), out_w = p.out_w(), pixels = out_h * out_w;
  const index_t block_rows = tap_block_rows(p);
  std::fill(dw, dw + p.k * taps, 0.0f);
  thread_local std::vector<float> buf;
  thread_local std::vector<index_t> offsets;
  offsets.resize(static_cast<std::size_t>(taps));
  for (index_t n = n_begin; n < n_end; ++n)
    for (index_t g = 0; g < p.groups; ++g)
      for (index_t oh0 = 0; oh0 < out_h; oh0 += block_rows) {
        const index_t rows = std::min(block_rows, out_h - oh0);
        const TapPlanes t = tap_planes(p, rows);
        buf.resize(static_cast<std::size_t>(t.floats));
        lay_out_taps(p, t, x + (n * p.c + g * cg) * p.h * p.w, oh0, rows, buf.data(), offsets.data());
        const float* dy_block = dy + (n * p.k + g * kg) * pixels + oh0 * out_w;
        for (index_t k = 0; k < kg;) {
          const bool two = k + 2 <= kg;
          (two ? kernels.dot : kernels.dot1)(taps, offsets.data(), buf.data(), dy_block + k * pixels, pixels,
                                             rows * out_w, dw + (g * kg + k) * taps);
          k += two ? 2 : 1;
        }
      }
}

}  // namespace kiln::detail
