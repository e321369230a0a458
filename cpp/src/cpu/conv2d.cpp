// conv2d: argument checks, and the choice of path for each pass (CRS = C/g * R * S):
//
//   forward       direct (conv2d_direct) when CRS is short or K/g tiny; else Winograd
//                 F(4x4, 3x3) (conv2d_winograd) for 3x3, stride 1, dilation 1, groups 1
//                 with enough channels and tiles; else the implicit GEMM
//                 y_g = W_g @ cols_g + bias (conv2d_gemm), over the padded input's grid
//                 when the stride is 1
//   input grad    stride 1 (and C >= 4 or groups): a forward convolution of dy with the
//                 flipped, transposed filters (so Winograd where it suits); else
//                 dcols = W^T @ dy[:, block], col2im scatter-added into dx
//   weight grad   Winograd where the forward takes it (conv2d_winograd); else
//                 dW += dy @ cols^T, images in a fixed number of slices, each summed
//                 into its own partial dW, the partials added in slice order; CRS short:
//                 dot products over the direct path's tap planes (conv2d_direct), else
//                 stride 1 runs on the padded grid (conv2d_gemm), else on im2col'd column blocks
//   bias grad     each plane in float lanes, the planes' sums in double
//
// Small images (at most kBatchedPixels output pixels, groups 1) take another road for the
// forward (unless direct or Winograd) and both gradients: per image those GEMMs are as thin
// as the image (16 pixels at 4x4) and their packing costs more than their arithmetic, so
// the columns of all images are laid side by side and each pass is one GEMM whose long
// side is N * pixels (forward_batched, backward_batched).
//
// Column blocks (CRS x block pixels) are sized to stay in cache and live in thread-local
// workspaces, so memory never grows with the image beyond one padded copy of the input. The
// batched passes' matrices live in workspaces too: fresh ones were zeroed and faulted in page
// by page on every call (a digits-CNN layer's 0.6 MB of columns).
#include "kiln/conv2d.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "check.hpp"
#include "conv2d_direct.hpp"
#include "conv2d_gemm.hpp"
#include "conv2d_winograd.hpp"
#include "dispatch.hpp"
#include "gemm.hpp"
#include "im2col.hpp"
#include "parallel_tasks.hpp"
#include "workspace.hpp"

namespace kiln {

index_t Conv2dParams::out_h() const { return (h + 2 * pad_h - dilation_h * (r - 1) - 1) / stride_h + 1; }
index_t Conv2dParams::out_w() const { return (w + 2 * pad_w - dilation_w * (s - 1) - 1) / stride_w + 1; }

namespace {

constexpr const char* kForward = "conv2d_forward";
constexpr const char* kBackward = "conv2d_backward";

// Floats of one column block of the strided paths: 256 KiB, about an L2 share, so the
// block im2col writes is still in cache when the GEMM packs it.
constexpr index_t kColumnBlockFloats = 64 * 1024;
// Pixels per block: a multiple of this, however many rows a column has.
constexpr index_t kPixelGrain = 16;
// Weight-gradient partial sums: at most this many, holding at most this many floats.
constexpr index_t kMaxWeightGradSlices = 8;
constexpr index_t kWeightGradPartialFloats = 8 * 1024 * 1024;
// The batched small-image passes: output pixels per image at most this, and its
// (CRS x N * pixels) column matrix at most this many floats.
constexpr index_t kBatchedPixels = 64;
constexpr index_t kBatchedFloats = 8 * 1024 * 1024;
// Winograd F(4x4, 3x3) for a 3x3 stride-1 forward with at least this many channels in
// and out and 4x4 output tiles in all (winograd_suits).
constexpr index_t kWinogradMinChannels = 8;
constexpr index_t kWinogradMinTiles = 48;

void check_params(const Conv2dParams& p, const char* fn) {
  const index_t sizes[] = {p.n, p.c, p.h, p.w, p.k, p.r, p.s, p.stride_h, p.stride_w,
                           p.pad_h, p.pad_w, p.dilation_h, p.dilation_w, p.groups};
  for (index_t v : sizes) {
    KILN_CHECK(v <= kMaxElements, fn << ": a size or parameter is " << v << ", more than kiln's limit of "
                                     << kMaxElements);
  }
  KILN_CHECK(p.n >= 0 && p.c >= 0 && p.h >= 0 && p.w >= 0 && p.k >= 0,
             fn << ": sizes must be >= 0, got x (" << p.n << ", " << p.c << ", " << p.h << ", "
                << p.w << ") and " << p.k << " output channels");
  KILN_CHECK(p.r >= 1 && p.s >= 1, fn << ": the kernel must be at least 1x1, got " << p.r << "x" << p.s);
  KILN_CHECK(p.stride_h >= 1 && p.stride_w >= 1,
             fn << ": stride must be >= 1, got (" << p.stride_h << ", " << p.stride_w << ")");
  KILN_CHECK(p.pad_h >= 0 && p.pad_w >= 0,
             fn << ": padding must be >= 0, got (" << p.pad_h << ", " << p.pad_w << ")");
  KILN_CHECK(p.dilation_h >= 1 && p.dilation_w >= 1,
             fn << ": dilation must be >= 1, got (" << p.dilation_h << ", " << p.dilation_w << ")");
  KILN_CHECK(p.groups >= 1, fn << ": groups must be >= 1, got " << p.groups);
  KILN_CHECK(p.c % p.groups == 0 && p.k % p.groups == 0,
             fn << ": groups (" << p.groups << ") must divide the input channels (" << p.c
                << ") and the output channels (" << p.k << ")");
  const index_t span_h = p.dilation_h * (p.r - 1) + 1, span_w = p.dilation_w * (p.s - 1) + 1;
  KILN_CHECK(span_h <= p.h + 2 * p.pad_h && span_w <= p.w + 2 * p.pad_w,
             fn << ": the dilated kernel (" << span_h << ", " << span_w
                << ") is larger than the padded input (" << p.h + 2 * p.pad_h << ", "
                << p.w + 2 * p.pad_w << ")");
  detail::checked_size(fn, "x", p.n, p.c, p.h, p.w);
  detail::checked_size(fn, "w", p.k, p.c / p.groups, p.r, p.s);
  detail::checked_size(fn, "y", p.n, p.k, p.out_h(), p.out_w());
}

// Sizes and strides of the GEMMs, derived once per call.
struct ConvPlan {
  index_t channels_per_group, filters_per_group;
  index_t col_rows;      // C/groups * R * S: the reduction length of the forward GEMM
  index_t pixels;        // OH * OW
  index_t block;         // output pixels per column block
  index_t blocks;        // column blocks per image and group
  index_t x_image, x_group, w_group, y_image, y_group;  // element strides
};

ConvPlan plan_for(const Conv2dParams& p) {
  ConvPlan plan{};
  plan.channels_per_group = p.c / p.groups;
  plan.filters_per_group = p.k / p.groups;
  plan.col_rows = plan.channels_per_group * p.r * p.s;
  plan.pixels = p.out_h() * p.out_w();
  const index_t fitting = kColumnBlockFloats / std::max<index_t>(plan.col_rows, 1);
  plan.block = std::min(plan.pixels, std::max(kPixelGrain, fitting / kPixelGrain * kPixelGrain));
  plan.blocks = plan.block > 0 ? (plan.pixels + plan.block - 1) / plan.block : 0;
  plan.x_group = plan.channels_per_group * p.h * p.w;
  plan.x_image = p.c * p.h * p.w;
  plan.w_group = plan.filters_per_group * plan.col_rows;
  plan.y_group = plan.filters_per_group * plan.pixels;
  plan.y_image = p.k * plan.pixels;
  return plan;
}

// This thread's column block buffer, grown on demand and kept for later calls.
float* column_workspace(index_t floats) {
  thread_local std::vector<float> workspace;
  if (workspace.size() < static_cast<std::size_t>(floats)) workspace.resize(floats);
  return workspace.data();
}

// The column block (col_rows x count) of output pixels [p0, p0 + count) of one group of
// one image, im2col'd into the workspace, as a GEMM operand.
detail::StridedMatrix column_block(const Conv2dParams& p, const ConvPlan& plan,
                                   const float* x_group, index_t p0, index_t count) {
  float* cols = column_workspace(plan.col_rows * count);
  detail::im2col(p, x_group, p0, count, cols);
  return {cols, count, 1};
}

detail::StridedMatrix transposed(detail::StridedMatrix m) { return {m.data, m.col_stride, m.row_stride}; }

double conv_flops(const Conv2dParams& p, const ConvPlan& plan) {
  return 2.0 * static_cast<double>(p.n) * static_cast<double>(p.k) * plan.pixels * plan.col_rows;
}

// A small plane with its zero padding: (H + 2 pad_h) x (W + 2 pad_w), where every tap lands.
struct PaddedPlane {
  index_t h, w;
  explicit PaddedPlane(const Conv2dParams& p) : h(p.h + 2 * p.pad_h), w(p.w + 2 * p.pad_w) {}
  index_t size() const { return h * w; }
};

// plane (H x W) into tile's interior; the border is zero.
void fill_padded(const Conv2dParams& p, const PaddedPlane& padded, const float* plane, float* tile) {
  std::fill(tile, tile + padded.size(), 0.0f);
  for (index_t h = 0; h < p.h; ++h)
    std::copy(plane + h * p.w, plane + (h + 1) * p.w, tile + (h + p.pad_h) * padded.w + p.pad_w);
}

// For each tap (r, s) and output pixel: the element of the padded plane the tap reads. The
// same for every image and channel, so the small-image column matrices are plain gathers
// from each plane's padded copy (im2col's row-by-row copies cost more than the GEMMs when rows
// are 4 pixels long; a gather from the plane itself, testing each tap for the padding, cost
// 1.5 ns an element: most of a digits-CNN layer's forward).
std::vector<index_t> tap_offsets(const Conv2dParams& p) {
  const index_t out_h = p.out_h(), out_w = p.out_w(), pixels = out_h * out_w;
  const PaddedPlane padded(p);
  std::vector<index_t> offsets(static_cast<std::size_t>(p.r * p.s * pixels));
  for (index_t r = 0; r < p.r; ++r)
    for (index_t s = 0; s < p.s; ++s)
      for (index_t oh = 0; oh < out_h; ++oh)
        for (index_t ow = 0; ow < out_w; ++ow) {
          const index_t h = oh * p.stride_h + r * p.dilation_h;  // in the padded plane
          const index_t w = ow * p.stride_w + s * p.dilation_w;
          offsets[(r * p.s + s) * pixels + oh * out_w + ow] = h * padded.w + w;
        }
  return offsets;
}

// The batched passes' matrices, kept per thread between calls: slot 0 the columns, slot 1 the
// output (forward) or dy (backward), side by side over the images; slot 2 the padded planes.
struct BatchedConv;
float* batched_workspace(int slot, index_t floats) {
  return detail::thread_workspace<BatchedConv, 3>(slot, floats);
}

// cols_all (CRS x N*P): every image's im2col block side by side, by gathers from the padded
// planes (slot 2), a row of cols_all at a time: image by image, one row's pieces are 64 bytes
// 8 KiB apart for 4x4 images, in few L1 sets (98 us instead of ~25 for a digits-CNN layer).
void gather_columns(const Conv2dParams& p, const ConvPlan& plan, const std::vector<index_t>& offsets,
                    const float* x, float* columns) {
  const index_t pixels = plan.pixels, np = p.n * pixels, taps = p.r * p.s, plane = p.h * p.w;
  const index_t out_w = p.out_w();
  const PaddedPlane padded(p);
  float* planes = batched_workspace(2, p.n * p.c * padded.size());
  const int nthreads = detail::threads_for(static_cast<double>(np) * plan.col_rows);
  detail::parallel_for(p.n * p.c, nthreads, [&](index_t nc) {
    fill_padded(p, padded, x + nc * plane, planes + nc * padded.size());
  });
  detail::parallel_for(p.c * taps, nthreads, [&](index_t row) {
    const index_t c = row / taps, tap = row % taps;
    const index_t* off = offsets.data() + tap * pixels;
    float* dst = columns + row * np;
    for (index_t n = 0; n < p.n; ++n, dst += pixels) {
      const float* tile = planes + (n * p.c + c) * padded.size();
      if (p.stride_w == 1 && out_w % 4 == 0) {  // runs of a padded row, in 16-byte copies
        for (index_t q = 0; q < pixels; q += out_w)
          for (index_t j = 0; j < out_w; j += 4) std::memcpy(dst + q + j, tile + off[q] + j, 4 * sizeof(float));
      } else {
        for (index_t q = 0; q < pixels; ++q) dst[q] = tile[off[q]];
      }
    }
  });
}

bool batched_suits(const Conv2dParams& p, const ConvPlan& plan) {
  return p.groups == 1 && plan.pixels <= kBatchedPixels &&
         plan.col_rows * p.n * plan.pixels <= kBatchedFloats;
}

// y_all (K x N*P) = W @ cols_all + bias, then each image's (K x P) block into y.
void forward_batched(const Conv2dParams& p, const ConvPlan& plan, const float* x, const float* w,
                     const float* bias, float* y) {
  const index_t pixels = plan.pixels, np = p.n * pixels;
  float* columns = batched_workspace(0, plan.col_rows * np);
  gather_columns(p, plan, tap_offsets(p), x, columns);
  float* y_all = batched_workspace(1, p.k * np);
  detail::GemmEpilogue epilogue;
  epilogue.bias = bias;
  epilogue.bias_axis = bias ? detail::BiasAxis::per_row : detail::BiasAxis::none;
  detail::gemm(p.k, np, plan.col_rows, 1.0f, {w, plan.col_rows, 1}, {columns, np, 1}, 0.0f, y_all,
               np, epilogue);
  const int nthreads = detail::threads_for(static_cast<double>(np) * p.k);
  detail::parallel_for(p.n, nthreads, [&](index_t n) {
    for (index_t k = 0; k < p.k; ++k) {
      const float* src = y_all + k * np + n * pixels;
      std::copy(src, src + pixels, y + n * plan.y_image + k * pixels);
    }
  });
}

// Winograd (4x fewer multiplies, but a transform per input and output channel of each
// tile and one of the filters per call) measured faster than the GEMM from 8 channels in
// and out and about 48 tiles; below, the filter transform and idle threads cost more.
bool winograd_suits(const Conv2dParams& p) {
  const index_t tiles = p.n * ((p.out_h() + 3) / 4) * ((p.out_w() + 3) / 4);
  return detail::conv2d_winograd_applies(p) && p.c >= kWinogradMinChannels &&
         p.k >= kWinogradMinChannels && tiles >= kWinogradMinTiles;
}

void forward_dispatch(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                      float* y) {
  const ConvPlan plan = plan_for(p);
  if (detail::conv2d_direct_suits(p, detail::cpu_kernels().gemm.mr)) {
    detail::conv2d_forward_direct(p, x, w, bias, y);
  } else if (winograd_suits(p)) {
    detail::conv2d_forward_winograd(p, x, w, bias, y);
  } else if (batched_suits(p, plan)) {
    forward_batched(p, plan, x, w, bias, y);
  } else {
    detail::conv2d_forward_gemm(p, x, w, bias, y);
  }
}

// With stride 1 and padding at most the dilated kernel's reach, dx is itself a
// convolution: of dy with the filters flipped in space and transposed per group
// (K/g <-> C/g), padded by dilation*(R-1) - pad. That runs on the forward path, with
// no col2im scatter.
// Not for fewer than 4 input channels (groups 1): that convolution has as few filters,
// and dcols = W^T @ dy (a GEMM as long as dy) then col2im costs less than its taps over
// many channels (C = 1 from K = 32, 64 images 28x28: 0.35 vs 1.1 ms on one core).
bool input_grad_is_convolution(const Conv2dParams& p) {
  return p.stride_h == 1 && p.stride_w == 1 && p.pad_h <= p.dilation_h * (p.r - 1) &&
         p.pad_w <= p.dilation_w * (p.s - 1) && (p.c >= 4 || p.groups > 1);
}

void input_grad_as_convolution(const Conv2dParams& p, const ConvPlan& plan, const float* w,
                               const float* dy, float* dx) {
  Conv2dParams t = p;
  t.c = p.k;
  t.h = p.out_h();
  t.w = p.out_w();
  t.k = p.c;
  t.pad_h = p.dilation_h * (p.r - 1) - p.pad_h;
  t.pad_w = p.dilation_w * (p.s - 1) - p.pad_w;
  const index_t cg = plan.channels_per_group, kg = plan.filters_per_group, taps = p.r * p.s;
  std::vector<float> flipped(static_cast<std::size_t>(p.k * plan.col_rows));  // (C, K/g, R, S)
  for (index_t g = 0; g < p.groups; ++g)
    for (index_t k = 0; k < kg; ++k)
      for (index_t c = 0; c < cg; ++c) {
        const float* src = w + ((g * kg + k) * cg + c) * taps;
        float* dst = flipped.data() + ((g * cg + c) * kg + k) * taps;
        for (index_t i = 0; i < taps; ++i) dst[taps - 1 - i] = src[i];
      }
  forward_dispatch(t, dy, flipped.data(), nullptr, dx);
}

// Otherwise (strided): dcols = W_g^T @ dy block, scattered back by col2im.
void input_grad_by_col2im(const Conv2dParams& p, const ConvPlan& plan, const float* w,
                          const float* dy, float* dx) {
  // Groups of one image write disjoint channels of dx: each (image, group) is one task.
  // dcols has as few rows as the direct path's reductions: its row kernels, not GEMM tiles.
  const bool few_rows = plan.col_rows <= 32;
  const index_t tasks = p.n * p.groups;
  detail::parallel_tasks(tasks, detail::threads_for_tasks(conv_flops(p, plan), tasks), [&](index_t task) {
    const index_t n = task / p.groups, g = task % p.groups;
    const detail::StridedMatrix w_t{w + g * plan.w_group, 1, plan.col_rows};  // W_g^T
    const float* dy_group = dy + n * plan.y_image + g * plan.y_group;
    float* dx_group = dx + n * plan.x_image + g * plan.x_group;
    std::fill(dx_group, dx_group + plan.x_group, 0.0f);
    for (index_t b = 0; b < plan.blocks; ++b) {
      const index_t p0 = b * plan.block, count = std::min(plan.block, plan.pixels - p0);
      float* dcols = column_workspace(plan.col_rows * count);
      if (few_rows) {
        detail::conv2d_direct_product(plan.col_rows, plan.filters_per_group, w + g * plan.w_group, dy_group + p0,
                                      plan.pixels, count, dcols, count);
      } else {
        detail::gemm(plan.col_rows, count, plan.filters_per_group, 1.0f, w_t, {dy_group + p0, plan.pixels, 1},
                     0.0f, dcols, count);
      }
      detail::col2im_add(p, dcols, p0, count, dx_group);
    }
  });
}

void weight_grad(const Conv2dParams& p, const ConvPlan& plan, const float* x, const float* dy,
                 float* dw) {
  if (winograd_suits(p)) {
    detail::conv2d_weight_grad_winograd(p, x, dy, dw);
    return;
  }
  // Images are split into a fixed number of slices, each summed into its own partial
  // dW, then the partials are added in slice order. The slices depend on the problem
  // only, never on the thread count, so neither does any bit of dW.
  const index_t w_size = p.k * plan.col_rows;
  const index_t by_memory = std::max<index_t>(1, kWeightGradPartialFloats / std::max<index_t>(w_size, 1));
  const index_t slices = std::max<index_t>(1, std::min({p.n, kMaxWeightGradSlices, by_memory}));
  std::vector<float> partials(static_cast<std::size_t>((slices - 1) * w_size));
  auto partial = [&](index_t slice) { return slice == 0 ? dw : partials.data() + (slice - 1) * w_size; };

  const bool direct = detail::conv2d_weight_grad_direct_suits(p);
  const bool stride1 = !direct && p.stride_h == 1 && p.stride_w == 1;
  const float* padded = stride1 ? detail::conv2d_pad_input(p, x) : nullptr;
  detail::parallel_tasks(slices, detail::threads_for_tasks(conv_flops(p, plan), slices), [&](index_t slice) {
    float* dw_slice = partial(slice);
    index_t n_begin, n_end;
    detail::split_range(p.n, static_cast<int>(slice), static_cast<int>(slices), 1, n_begin, n_end);
    if (direct) {
      detail::conv2d_weight_grad_direct(p, x, dy, n_begin, n_end, dw_slice);
      return;
    }
    if (stride1) {
      detail::conv2d_weight_grad_stride1(p, padded, dy, n_begin, n_end, dw_slice);
      return;
    }
    std::fill(dw_slice, dw_slice + w_size, 0.0f);
    for (index_t n = n_begin; n < n_end; ++n) {
      for (index_t g = 0; g < p.groups; ++g) {
        const float* x_group = x + n * plan.x_image + g * plan.x_group;
        const float* dy_group = dy + n * plan.y_image + g * plan.y_group;
        for (index_t b = 0; b < plan.blocks; ++b) {
          const index_t p0 = b * plan.block, count = std::min(plan.block, plan.pixels - p0);
          const detail::StridedMatrix cols = column_block(p, plan, x_group, p0, count);
          detail::gemm(plan.filters_per_group, plan.col_rows, count, 1.0f,
                       {dy_group + p0, plan.pixels, 1}, transposed(cols), 1.0f,
                       dw_slice + g * plan.w_group, plan.col_rows);
        }
      }
    }
  });

  if (slices > 1) {
    const int nthreads = detail::threads_for(static_cast<double>(slices * w_size));
    detail::parallel_for(w_size, nthreads, [&](index_t i) {
      float sum = dw[i];
      for (index_t slice = 1; slice < slices; ++slice) sum += partials[(slice - 1) * w_size + i];
      dw[i] = sum;
    });
  }
}

// dW = dY_all @ cols_all^T and dcols_all = W^T @ dY_all, with dY_all (K x N*P) and
// cols_all (CRS x N*P) holding every image's block side by side (P = pixels per image);
// dcols_all is then scattered back into dx image by image.
void backward_batched(const Conv2dParams& p, const ConvPlan& plan, const float* x, const float* w,
                      const float* dy, float* dx, float* dw) {
  const index_t pixels = plan.pixels, np = p.n * pixels, crs = plan.col_rows, taps = p.r * p.s;
  const index_t plane = p.h * p.w;
  const std::vector<index_t> offsets = tap_offsets(p);
  const int copy_threads = detail::threads_for(static_cast<double>(np) * std::max(p.k, crs));
  float* dy_all = batched_workspace(1, p.k * np);
  detail::parallel_for(p.k, copy_threads, [&](index_t k) {  // a row of dy_all at a time
    for (index_t n = 0; n < p.n; ++n) {
      const float* src = dy + n * plan.y_image + k * pixels;
      std::copy(src, src + pixels, dy_all + k * np + n * pixels);
    }
  });
  float* columns = batched_workspace(0, crs * np);
  if (dw) {
    gather_columns(p, plan, offsets, x, columns);
    detail::gemm(p.k, crs, np, 1.0f, {dy_all, np, 1}, {columns, 1, np}, 0.0f, dw, crs);
  }
  if (dx) {
    detail::gemm(crs, np, p.k, 1.0f, {w, 1, crs}, {dy_all, np, 1}, 0.0f, columns, np);
    // Scatter-added into the padded planes (slot 2; the border's sums dropped), a row of
    // dcols_all at a time as the gather reads them; each element gets its taps' terms in tap
    // order, as from a plane-by-plane scatter. Threads take whole channels.
    const PaddedPlane padded(p);
    float* planes = batched_workspace(2, p.n * p.c * padded.size());
    detail::parallel_for(p.c, copy_threads, [&](index_t c) {
      for (index_t n = 0; n < p.n; ++n) {
        float* tile = planes + (n * p.c + c) * padded.size();
        std::fill(tile, tile + padded.size(), 0.0f);
      }
      for (index_t tap = 0; tap < taps; ++tap) {
        const index_t* off = offsets.data() + tap * pixels;
        const float* src = columns + (c * taps + tap) * np;
        for (index_t n = 0; n < p.n; ++n, src += pixels) {
          float* tile = planes + (n * p.c + c) * padded.size();
          for (index_t q = 0; q < pixels; ++q) tile[off[q]] += src[q];
        }
      }
      for (index_t n = 0; n < p.n; ++n) {
        const float* tile = planes + (n * p.c + c) * padded.size();
        float* dx_plane = dx + n * plan.x_image + c * plane;
        for (index_t h = 0; h < p.h; ++h) {
          const float* row = tile + (h + p.pad_h) * padded.w + p.pad_w;
          std::copy(row, row + p.w, dx_plane + h * p.w);
        }
      }
    });
  }
}

void bias_grad(const Conv2dParams& p, const ConvPlan& plan, const float* dy, float* db) {
  const int nthreads = detail::threads_for(static_cast<double>(p.n) * p.k * plan.pixels);
  detail::parallel_for(p.k, nthreads, [&](index_t k) {
    // Each plane in 16 float lanes (they vectorise; one double chain ran at 1 add per
    // 4 cycles, as long as a GEMM pass), the planes' sums added in double.
    double sum = 0.0;
    for (index_t n = 0; n < p.n; ++n) {
      const float* plane = dy + n * plan.y_image + k * plan.pixels;
      float lanes[16] = {};
      index_t i = 0;
      for (; i + 16 <= plan.pixels; i += 16)
        for (int j = 0; j < 16; ++j) lanes[j] += plane[i + j];
      double plane_sum = 0.0;
      for (; i < plan.pixels; ++i) plane_sum += plane[i];
      for (float lane : lanes) plane_sum += lane;
      sum += plane_sum;
    }
    db[k] = static_cast<float>(sum);
  });
}

}  // namespace

void conv2d_check(const Conv2dParams& p) { check_params(p, "conv2d"); }

void conv2d_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                    float* y) {
  check_params(p, kForward);
  const ConvPlan plan = plan_for(p);
  if (p.n * p.k * plan.pixels == 0) return;
  KILN_CHECK(y != nullptr, kForward << ": y is null");
  KILN_CHECK(plan.col_rows == 0 || (x != nullptr && w != nullptr), kForward << ": x or w is null");

  if (plan.col_rows == 0) {  // no input channels: y is the bias
    for (index_t i = 0; i < p.n * p.k; ++i)
      std::fill(y + i * plan.pixels, y + (i + 1) * plan.pixels, bias ? bias[i % p.k] : 0.0f);
    return;
  }
  forward_dispatch(p, x, w, bias, y);
}

void conv2d_backward(const Conv2dParams& p, const float* x, const float* w, const float* dy,
                     float* dx, float* dw, float* db) {
  check_params(p, kBackward);
  const ConvPlan plan = plan_for(p);
  const bool dy_empty = p.n * p.k * plan.pixels == 0;
  KILN_CHECK(dy_empty || dy != nullptr, kBackward << ": dy is null");
  KILN_CHECK(!dx || p.n * p.c * p.h * p.w == 0 || p.k == 0 || w != nullptr,
             kBackward << ": dx is asked for but w is null");
  KILN_CHECK(!dw || dy_empty || plan.col_rows == 0 || x != nullptr,
             kBackward << ": dw is asked for but x is null");

  if (db) bias_grad(p, plan, dy, db);
  if ((dw || dx) && !dy_empty && plan.col_rows > 0 && p.k > 0 && batched_suits(p, plan)) {
    backward_batched(p, plan, x, w, dy, dx, dw);
    return;
  }
  if (dw) weight_grad(p, plan, x, dy, dw);
  if (dx) {
    if (p.k == 0 || plan.pixels == 0) {
      std::fill(dx, dx + p.n * plan.x_image, 0.0f);
    } else {
      if (input_grad_is_convolution(p)) {
        input_grad_as_convolution(p, plan, w, dy, dx);
      } else {
        input_grad_by_col2im(p, plan, w, dy, dx);
      }
    }
  }
}

}  // namespace kiln
