// Blocking: the reduction (CRS) is cut into near-equal chunks of at most the kernel's
// kc, so that one NR-column panel of the pixel block (kc x NR) stays in L1 while every
// MR-row panel of W streams past it from L2; the pixel block (kc x block) is sized
// for L2. Per task:
//
//   for each chunk of CRS:      im2col the block's chunk into NR-column panels
//     for each NR panel:        (pixels)
//       for each MR panel:      (filters) micro-kernel, accumulating over chunks
//   the bias is added to each tile as the last chunk leaves it in L1.
#include "conv2d_gemm.hpp"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

#include "dispatch.hpp"
#include "im2col.hpp"
#include "parallel_tasks.hpp"
#include "workspace.hpp"

namespace kiln::detail {
namespace {

// Floats of one packed pixel block (a chunk of CRS x block pixels): 128 KiB, a share of L2.
constexpr index_t kPixelBlockFloats = 32 * 1024;

// This thread's buffers, 64-byte aligned (the micro-kernels load B aligned), kept for
// later calls: slot 0 holds a packed pixel block, slot 1 a block of output, slot 2 the
// calling thread's padded input (as large as x: allocating it per call would cost a
// page fault per 4 KiB, more than the copy).
struct ConvGemmWorkspace;
float* block_workspace(int slot, index_t floats) {
  return thread_workspace<ConvGemmWorkspace, 3>(slot, floats);
}

// W_g (K/g x CRS) of every group -> per group, per chunk [row0, row0 + kc) of CRS,
// MR-row panels: element (i, q) of panel ir at ir*kc + q*MR + i, zero padded.
// Group g's chunk starting at row0 begins at (g*CRS + row0) * m_padded.
void pack_filters(const Conv2dParams& p, index_t chunk, int mr, const float* w, float* out) {
  const index_t kg = p.k / p.groups, rows = p.c / p.groups * p.r * p.s;
  const index_t m_padded = (kg + mr - 1) / mr * mr;
  for (index_t g = 0; g < p.groups; ++g) {
    const float* w_group = w + g * kg * rows;
    for (index_t row0 = 0; row0 < rows; row0 += chunk) {
      const index_t kc = std::min(chunk, rows - row0);
      for (index_t ir = 0; ir < m_padded; ir += mr) {
        const index_t valid = std::min<index_t>(mr, kg - ir);
        for (index_t q = 0; q < kc; ++q) {
          for (index_t i = 0; i < valid; ++i) out[i] = w_group[(ir + i) * rows + row0 + q];
          for (index_t i = valid; i < mr; ++i) out[i] = 0.0f;
          out += mr;
        }
      }
    }
  }
}

}  // namespace

const float* conv2d_pad_input(const Conv2dParams& p, const float* x) {
  const int nr = cpu_kernels().gemm.nr;
  const index_t hp = p.h + 2 * p.pad_h, wp = p.w + 2 * p.pad_w, plane = hp * wp;
  // A panel past the grid's end reads at most nr floats past the last plane.
  const index_t planes = p.n * p.c;
  float* const padded = block_workspace(2, planes * plane + nr);
  std::fill(padded + planes * plane, padded + planes * plane + nr, 0.0f);
  parallel_tasks(planes, threads_for_tasks(static_cast<double>(planes) * plane, planes), [&](index_t i) {
    float* dst = padded + i * plane;
    const float* src = x + i * p.h * p.w;
    std::fill(dst, dst + p.pad_h * wp, 0.0f);
    for (index_t h = 0; h < p.h; ++h) {
      float* row = dst + (p.pad_h + h) * wp;
      std::fill(row, row + p.pad_w, 0.0f);
      std::copy(src + h * p.w, src + (h + 1) * p.w, row + p.pad_w);
      std::fill(row + p.pad_w + p.w, row + wp, 0.0f);
    }
    std::fill(dst + (p.pad_h + p.h) * wp, dst + plane, 0.0f);
  });

  return padded;
}

namespace {

// Stride 1: output pixel (oh, ow) reads xp[c][oh + r*dh][ow + s*dw] of the zero-padded
// input xp (planes hp x wp). Numbered q = oh*wp + ow on a grid as wide as xp, row
// (c, r, s) of the column matrix is xp shifted by c*plane + r*dh*wp + s*dw: packing a
// panel is a copy of NR consecutive floats, with no bounds to test. Grid columns
// ow >= OW (wp - OW of every wp) are computed too, then dropped.
void forward_stride1(const Conv2dParams& p, const GemmKernel& kern, const float* packed_w,
                     index_t chunk, index_t m_padded, const float* x, const float* bias, float* y) {
  const int mr = kern.mr, nr = kern.nr;
  const index_t cg = p.c / p.groups, kg = p.k / p.groups, rows = cg * p.r * p.s;
  const index_t out_h = p.out_h(), out_w = p.out_w(), pixels = out_h * out_w;
  const index_t hp = p.h + 2 * p.pad_h, wp = p.w + 2 * p.pad_w, plane = hp * wp;
  const double flops = 2.0 * static_cast<double>(p.n) * p.k * pixels * rows;

  const float* const padded = conv2d_pad_input(p, x);

  const index_t grid = (out_h - 1) * wp + out_w;
  const index_t grid_padded = (grid + nr - 1) / nr * nr;
  const index_t block = std::min(grid_padded, std::max<index_t>(nr, kPixelBlockFloats / chunk / nr * nr));
  const index_t blocks = (grid + block - 1) / block;
  const index_t tasks = p.n * p.groups * blocks;

  parallel_tasks(tasks, threads_for_tasks(flops, tasks), [&](index_t task) {
    const index_t b = task % blocks, g = task / blocks % p.groups, n = task / blocks / p.groups;
    const index_t q0 = b * block, count = std::min(block, grid - q0);
    const index_t count_padded = (count + nr - 1) / nr * nr;
    const float* xp = padded + (n * p.c + g * cg) * plane + q0;
    float* panels = block_workspace(0, chunk * count_padded);
    float* out = block_workspace(1, m_padded * count_padded);  // (m_padded, count_padded)

    for (index_t row0 = 0; row0 < rows; row0 += chunk) {
      const index_t kc = std::min(chunk, rows - row0);
      const float beta = row0 == 0 ? 0.0f : 1.0f;
      index_t c = row0 / (p.r * p.s), r = row0 / p.s % p.r, s = row0 % p.s;
      for (index_t t = 0; t < kc; ++t) {
        const float* src = xp + c * plane + r * p.dilation_h * wp + s * p.dilation_w;
        for (index_t jr = 0; jr < count_padded; jr += nr)
          std::copy(src + jr, src + jr + nr, panels + jr * kc + t * nr);
        if (++s == p.s) {
          s = 0;
          if (++r == p.r) {
            r = 0;
            ++c;
          }
        }
      }
      const float* a_chunk = packed_w + (g * rows + row0) * m_padded;
      for (index_t jr = 0; jr < count_padded; jr += nr)
        for (index_t ir = 0; ir < m_padded; ir += mr)
          kern.micro_kernel(kc, a_chunk + ir * kc, panels + jr * kc, out + ir * count_padded + jr,
                            count_padded, 1.0f, beta);
    }

    // The grid's output rows, less their dropped columns, into y (plus the bias).
    for (index_t q = q0; q < q0 + count;) {
      const index_t oh = q / wp, ow = q % wp, end = std::min(q0 + count, q - ow + wp);
      const index_t valid_end = std::min(end, q - ow + out_w);
      for (index_t k = 0; k < kg && q < valid_end; ++k) {
        const float bk = bias ? bias[g * kg + k] : 0.0f;
        const float* src = out + k * count_padded + (q - q0);
        float* dst = y + ((n * p.k + g * kg + k) * out_h + oh) * out_w + ow;
        for (index_t j = 0; j < valid_end - q; ++j) dst[j] = src[j] + bk;
      }
      q = end;
    }
  });
}

}  // namespace

void conv2d_forward_gemm(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                         float* y) {
  const GemmKernel& kern = cpu_kernels().gemm;
  const int mr = kern.mr, nr = kern.nr;
  const index_t kg = p.k / p.groups, rows = p.c / p.groups * p.r * p.s;
  const index_t out_w = p.out_w(), pixels = p.out_h() * out_w;
  const index_t x_image = p.c * p.h * p.w, x_group = p.c / p.groups * p.h * p.w;
  const index_t y_image = p.k * pixels, y_group = kg * pixels;

  const index_t chunks = std::max<index_t>(1, (rows + kern.panel_kc - 1) / kern.panel_kc);
  const index_t chunk = std::max<index_t>(1, (rows + chunks - 1) / chunks);
  const index_t m_padded = (kg + mr - 1) / mr * mr;
  AlignedFloats packed_w = aligned_floats(p.groups * rows * m_padded);
  pack_filters(p, chunk, mr, w, packed_w.get());
  if (p.stride_h == 1 && p.stride_w == 1) {
    forward_stride1(p, kern, packed_w.get(), chunk, m_padded, x, bias, y);
    return;
  }

  const index_t pixels_padded = (pixels + nr - 1) / nr * nr;
  const index_t block = std::min(pixels_padded, std::max<index_t>(nr, kPixelBlockFloats / chunk / nr * nr));
  const index_t blocks = (pixels + block - 1) / block;
  const index_t tasks = p.n * p.groups * blocks;
  const double flops = 2.0 * static_cast<double>(p.n) * p.k * pixels * std::max<index_t>(rows, 1);

  parallel_tasks(tasks, threads_for_tasks(flops, tasks), [&](index_t task) {
    const index_t b = task % blocks, g = task / blocks % p.groups, n = task / blocks / p.groups;
    const index_t p0 = b * block, count = std::min(block, pixels - p0);
    const float* x_g = x + n * x_image + g * x_group;
    float* y_block = y + n * y_image + g * y_group + p0;
    const float* bias_g = bias ? bias + g * kg : nullptr;
    float* panels = block_workspace(0, chunk * ((count + nr - 1) / nr * nr));
    alignas(64) float edge[64 * 64];  // an MR x NR tile at the edges of y

    for (index_t row0 = 0; row0 < rows; row0 += chunk) {
      const index_t kc = std::min(chunk, rows - row0);
      const float beta = row0 == 0 ? 0.0f : 1.0f;
      const bool last = row0 + kc == rows;
      im2col_panels(p, x_g, p0, count, row0, kc, nr, panels);
      const float* a_chunk = packed_w.get() + (g * rows + row0) * m_padded;
      for (index_t jr = 0; jr < count; jr += nr) {
        const index_t cols = std::min<index_t>(nr, count - jr);
        const float* bp = panels + jr * kc;
        for (index_t ir = 0; ir < kg; ir += mr) {
          const index_t tile_rows = std::min<index_t>(mr, kg - ir);
          const float* ap = a_chunk + ir * kc;
          float* c = y_block + ir * pixels + jr;
          if (tile_rows == mr && cols == nr) {
            kern.micro_kernel(kc, ap, bp, c, pixels, 1.0f, beta);
          } else {
            kern.micro_kernel(kc, ap, bp, edge, nr, 1.0f, 0.0f);
            for (index_t i = 0; i < tile_rows; ++i)
              for (index_t j = 0; j < cols; ++j)
                c[i * pixels + j] = beta == 0.0f ? edge[i * nr + j] : edge[i * nr + j] + c[i * pixels + j];
          }
          if (last && bias_g) {
            for (index_t i = 0; i < tile_rows; ++i) {
              const float bi = bias_g[ir + i];
              for (index_t j = 0; j < cols; ++j) c[i * pixels + j] += bi;
            }
          }
        }
      }
    }
  });
}


void conv2d_wgrad_tile_portable(index_t kc, const float* x, const index_t* offsets, const float* b, float* c,
                                index_t ldc) {
  constexpr int kTaps = 4, kNr = 16;
  for (int i = 0; i < kTaps; ++i) {
    float acc[kNr] = {};
    const float* xt = x + offsets[i];
    for (index_t q = 0; q < kc; ++q)
      for (int j = 0; j < kNr; ++j) acc[j] += xt[q] * b[q * kNr + j];
    for (int j = 0; j < kNr; ++j) c[i * ldc + j] += acc[j];
  }
}

void conv2d_wgrad_pack_portable(const float* src, index_t ld, index_t rows, index_t cols, float* dst, index_t nr) {
  for (index_t c = 0; c < cols; ++c)
    for (index_t r = 0; r < nr; ++r) dst[c * nr + r] = r < rows ? src[r * ld + c] : 0.0f;
}

void conv2d_weight_grad_stride1(const Conv2dParams& p, const float* padded, const float* dy,
                                index_t n_begin, index_t n_end, float* dw) {
  const ConvWgradKernel& kern = cpu_kernels().conv_wgrad;
  const index_t tb = kern.taps, nr = kern.nr;
  const index_t cg = p.c / p.groups, kg = p.k / p.groups, rows = cg * p.r * p.s;
  const index_t out_h = p.out_h(), out_w = p.out_w(), pixels = out_h * out_w;
  const index_t wp = p.w + 2 * p.pad_w, plane = (p.h + 2 * p.pad_h) * wp;
  const index_t grid = (out_h - 1) * wp + out_w;
  const index_t k_padded = (kg + nr - 1) / nr * nr, rows_padded = (rows + tb - 1) / tb * tb;
  // One panel (kc x nr) stays in L1 while every block of taps passes over it.
  const index_t q_chunk = std::min<index_t>(cpu_kernels().gemm.panel_kc, grid);

  // Row (c, r, s) of X -> its shift in the padded input; the padding rows read offset 0
  // and their sums are dropped.
  std::vector<index_t> offsets(static_cast<std::size_t>(rows_padded), 0);
  for (index_t c = 0, t = 0; c < cg; ++c)
    for (index_t r = 0; r < p.r; ++r)
      for (index_t s = 0; s < p.s; ++s) offsets[t++] = c * plane + r * p.dilation_h * wp + s * p.dilation_w;

  float* acc = block_workspace(1, rows_padded * k_padded);         // dW_g^T, padded
  float* panels = block_workspace(0, q_chunk * k_padded);           // k_padded / nr panels of q_chunk x nr
  for (index_t g = 0; g < p.groups; ++g) {
    std::fill(acc, acc + rows_padded * k_padded, 0.0f);
    for (index_t n = n_begin; n < n_end; ++n) {
      const float* dy_g = dy + (n * p.k + g * kg) * pixels;
      const float* xp = padded + (n * p.c + g * cg) * plane;
      for (index_t qa = 0; qa < grid; qa += q_chunk) {
        const index_t kc = std::min(q_chunk, grid - qa);
        // dy_g^T on the grid: panel jr holds filters [jr, jr + nr) of each pixel, 0 for the
        // grid's dropped columns (ow >= OW) and past K/g; each grid row's valid run is one
        // transpose.
        for (index_t q = qa; q < qa + kc;) {
          const index_t ow = q % wp, row_end = std::min(qa + kc, q - ow + wp);
          const index_t valid_end = std::min(row_end, q - ow + out_w);
          for (index_t jr = 0; jr < k_padded; jr += nr) {
            float* dst = panels + jr * kc + (q - qa) * nr;
            if (valid_end > q)
              kern.pack(dy_g + jr * pixels + q / wp * out_w + ow, pixels, std::max<index_t>(0, std::min(nr, kg - jr)),
                        valid_end - q, dst, nr);
            std::fill(dst + std::max<index_t>(valid_end - q, 0) * nr, dst + (row_end - q) * nr, 0.0f);
          }
          q = row_end;
        }
        for (index_t jr = 0; jr < k_padded; jr += nr)
          for (index_t t0 = 0; t0 < rows_padded; t0 += tb)
            kern.tile(kc, xp + qa, offsets.data() + t0, panels + jr * kc, acc + t0 * k_padded + jr, k_padded);
      }
    }
    for (index_t k = 0; k < kg; ++k)
      for (index_t t = 0; t < rows; ++t) dw[(g * kg + k) * rows + t] = acc[t * k_padded + k];
  }
}

}  // namespace kiln::detail
