// The direct convolution: threads take (image, group) tasks; each pads its input once,
// then walks blocks of 4 filters and output rows through the row kernel.
#include "conv2d_direct.hpp"

#include <algorithm>
#include <vector>

#include "dispatch.hpp"
#include "parallel_tasks.hpp"

namespace kiln::detail {

void conv2d_direct_row_portable(index_t taps, const index_t* offsets, const float* x,
                                const float* w4, index_t width, float* out, index_t ld) {
  for (index_t j = 0; j < width; j += 8) {
    float acc[4][8] = {};
    for (index_t t = 0; t < taps; ++t) {
      const float* xt = x + offsets[t] + j;
      for (int f = 0; f < 4; ++f) {
        const float wf = w4[4 * t + f];
        for (int v = 0; v < 8; ++v) acc[f][v] += wf * xt[v];
      }
    }
    for (int f = 0; f < 4; ++f) std::copy(acc[f], acc[f] + 8, out + f * ld + j);
  }
}

bool conv2d_direct_suits(const Conv2dParams& p, int gemm_mr) {
  // A reduction this short leaves the GEMM micro-kernel storing its tile after a few
  // steps; fewer filters than its rows leave most of each tile empty. The row kernel
  // keeps 4 filters busy and has no tile to store between taps.
  const index_t taps = p.c / p.groups * p.r * p.s, filters = p.k / p.groups;
  return p.stride_w == 1 && (taps <= 32 || filters <= std::min(4, gemm_mr - 1));
}

void conv2d_forward_direct(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                           float* y) {
  const ConvDirectRowKernel row_kernel = cpu_kernels().conv_direct_row;
  const index_t cg = p.c / p.groups, kg = p.k / p.groups, taps = cg * p.r * p.s;
  const index_t out_h = p.out_h(), out_w = p.out_w(), pixels = out_h * out_w;
  const index_t width = (out_w + 7) / 8 * 8;
  // The padded input: every tap of every pixel in [0, width) reads inside it.
  const index_t hp = p.h + 2 * p.pad_h;
  const index_t wp = std::max(p.w + 2 * p.pad_w, width + (p.s - 1) * p.dilation_w);
  const index_t plane = hp * wp;

  std::vector<index_t> offsets(static_cast<std::size_t>(taps));
  for (index_t c = 0, t = 0; c < cg; ++c)
    for (index_t r = 0; r < p.r; ++r)
      for (index_t s = 0; s < p.s; ++s) offsets[t++] = c * plane + r * p.dilation_h * wp + s * p.dilation_w;

  // Filters in blocks of 4, tap-major: w4[t * 4 + f], zero padded past K/g.
  const index_t kblocks = (kg + 3) / 4;
  std::vector<float> w4(static_cast<std::size_t>(p.groups * kblocks * taps * 4), 0.0f);
  for (index_t g = 0; g < p.groups; ++g)
    for (index_t k = 0; k < kg; ++k)
      for (index_t t = 0; t < taps; ++t)
        w4[((g * kblocks + k / 4) * taps + t) * 4 + k % 4] = w[(g * kg + k) * taps + t];

  const index_t tasks = p.n * p.groups;
  const double flops = 2.0 * static_cast<double>(p.n) * p.k * pixels * taps;
  parallel_tasks(tasks, threads_for_tasks(flops, tasks), [&](index_t task) {
    const index_t n = task / p.groups, g = task % p.groups;
    thread_local std::vector<float> padded, rows;
    padded.assign(static_cast<std::size_t>(cg * plane), 0.0f);
    rows.resize(static_cast<std::size_t>(4 * width));
    const float* x_g = x + (n * p.c + g * cg) * p.h * p.w;
    for (index_t c = 0; c < cg; ++c)
      for (index_t i = 0; i < p.h; ++i)
        std::copy(x_g + (c * p.h + i) * p.w, x_g + (c * p.h + i + 1) * p.w,
                  padded.data() + c * plane + (i + p.pad_h) * wp + p.pad_w);

    // Output rows outer: the input rows one output row reads stay in cache while
    // every block of filters passes over them.
    for (index_t oh = 0; oh < out_h; ++oh) {
      const float* x_rows = padded.data() + oh * p.stride_h * wp;
      for (index_t kb = 0; kb < kblocks; ++kb) {
        const index_t k0 = g * kg + kb * 4, filters = std::min<index_t>(4, kg - kb * 4);
        row_kernel(taps, offsets.data(), x_rows, w4.data() + (g * kblocks + kb) * taps * 4, width,
                   rows.data(), width);
        for (index_t f = 0; f < filters; ++f) {
          const float b = bias ? bias[k0 + f] : 0.0f;
          float* dst = y + ((n * p.k + k0 + f) * out_h + oh) * out_w;
          const float* src = rows.data() + f * width;
          for (index_t j = 0; j < out_w; ++j) dst[j] = src[j] + b;
        }
      }
    }
  });
}

}  // namespace kiln::detail
