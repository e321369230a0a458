// Winograd F(4x4, 3x3) (conv2d_winograd.hpp): the filter transform and its inverse, the
// blocks of tiles and their 36 GEMMs, and the portable tile transforms (tile by tile; the
// x86 ones, simd/conv2d_winograd_x86.hpp, take 8 tiles at a time).
//
// Per block of T tiles (P = T / NR panels), in this thread's buffers:
//   V (36 x P panels x C x NR)   written by the input transform, read as the B panels
//   M (36 x K' x T), K' = K rounded up to MR rows: the micro-kernel's output, then read
//                                 by the output transform
// T is sized so that V and M stay in L2 while the 36 GEMMs pass over them; U, the
// filters (36 x C x K'), is packed once into MR-row panels and shared by every task.
//
// The weight gradient's blocks hold V and T = A dY A^T (36 x K x T) as plain row-major
// matrices (tiles contiguous) and add T[e] @ V[e]^T into their slice's dU through gemm():
// with T about 32 tiles those products take its small-product kernel, which reads them in place.
#include "conv2d_winograd.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

#include "conv2d_winograd_math.hpp"
#include "dispatch.hpp"
#include "gemm.hpp"
#include "parallel_tasks.hpp"
#include "workspace.hpp"

namespace kiln::detail {
namespace {

constexpr int kAlpha = 6, kElements = 36, kTile = 4;
// Bytes of V and M of one block: half of a 1 MiB L2, leaving room for U's panels.
constexpr index_t kBlockBytes = 512 * 1024;
// The weight gradient's partial sums over tiles: at most this many, holding at most this
// many floats (36 * K * C each).
constexpr index_t kWeightGradSlices = 8;
constexpr index_t kWeightGradPartialFloats = 8 * 1024 * 1024;
// The row or column of an empty lane: every element of its patch reads as outside x.
constexpr std::int32_t kEmptyLane = -(1 << 20);

// This thread's buffers (slot 0: V, slot 1: M or T; the calling thread's slot 2: U,
// slot 3: the weight gradient's partial dU), 64-byte aligned, kept for later calls (fresh
// pages would cost a fault per 4 KiB on every call).
struct WinogradWorkspace;
float* block_workspace(int slot, index_t floats) {
  return thread_workspace<WinogradWorkspace, 4>(slot, floats);
}

// The portable transforms' "vector": one tile.
struct Scalar {
  using T = float;
  static T set1(float v) { return v; }
  static T add(T a, T b) { return a + b; }
  static T sub(T a, T b) { return a - b; }
  static T mul(T a, T b) { return a * b; }
  static T fmadd(T a, T b, T c) { return a * b + c; }
  static T fnmadd(T a, T b, T c) { return c - a * b; }
};

// The reference transforms, one tile at a time.
void input_portable(index_t channels, index_t h, index_t w, const float* x, index_t channel_stride,
                    const WinogradPanel& tiles, float* v, index_t e_stride, index_t ld) {
  for (index_t j = 0; j < tiles.nr; ++j) {
    const index_t row0 = tiles.row0[j], col0 = tiles.col0[j];
    for (index_t c = 0; c < channels; ++c) {
      const float* xc = x + c * channel_stride + tiles.corner[j];
      float rows_t[kAlpha][kAlpha];  // B times each patch row
      for (int i = 0; i < kAlpha; ++i) {
        float d[kAlpha];
        for (int jj = 0; jj < kAlpha; ++jj) {
          const bool inside = row0 + i >= 0 && row0 + i < h && col0 + jj >= 0 && col0 + jj < w;
          d[jj] = inside ? xc[i * w + jj] : 0.0f;
        }
        winograd_math::input_1d<Scalar>(d, rows_t[i]);
      }
      for (int jj = 0; jj < kAlpha; ++jj) {
        const float col[kAlpha] = {rows_t[0][jj], rows_t[1][jj], rows_t[2][jj],
                                   rows_t[3][jj], rows_t[4][jj], rows_t[5][jj]};
        float out[kAlpha];
        winograd_math::input_1d<Scalar>(col, out);
        for (int i = 0; i < kAlpha; ++i) v[(i * kAlpha + jj) * e_stride + c * ld + j] = out[i];
      }
    }
  }
}

void output_portable(index_t filters, index_t oh, index_t ow, const float* m, index_t e_stride,
                     index_t ld, const WinogradPanel& tiles, const float* bias, float* y,
                     index_t channel_stride) {
  for (index_t j = 0; j < tiles.count; ++j) {
    const index_t rows = std::min<index_t>(kTile, oh - tiles.row0[j]);
    const index_t cols = std::min<index_t>(kTile, ow - tiles.col0[j]);
    for (index_t k = 0; k < filters; ++k) {
      float cols_t[kAlpha][kTile];  // A^T times each column of M's tile
      for (int jj = 0; jj < kAlpha; ++jj) {
        float col[kAlpha];
        for (int i = 0; i < kAlpha; ++i) col[i] = m[(i * kAlpha + jj) * e_stride + k * ld + j];
        winograd_math::output_1d<Scalar>(col, cols_t[jj]);
      }
      float* dst = y + k * channel_stride + tiles.corner[j];
      for (index_t i = 0; i < rows; ++i) {
        const float row[kAlpha] = {cols_t[0][i], cols_t[1][i], cols_t[2][i],
                                   cols_t[3][i], cols_t[4][i], cols_t[5][i]};
        float out[kTile];
        winograd_math::output_1d<Scalar>(row, out);
        for (index_t jj = 0; jj < cols; ++jj) dst[i * ow + jj] = out[jj] + (bias ? bias[k] : 0.0f);
      }
    }
  }
}

void grad_output_portable(index_t filters, index_t oh, index_t ow, const float* dy,
                          index_t channel_stride, const WinogradPanel& tiles, float* t,
                          index_t e_stride, index_t ld) {
  for (index_t j = 0; j < tiles.nr; ++j) {
    const index_t rows = j < tiles.count ? std::min<index_t>(kTile, oh - tiles.row0[j]) : 0;
    const index_t cols = j < tiles.count ? std::min<index_t>(kTile, ow - tiles.col0[j]) : 0;
    for (index_t k = 0; k < filters; ++k) {
      const float* src = dy + k * channel_stride + (j < tiles.count ? tiles.corner[j] : 0);
      float rows_t[kTile][kAlpha];  // A times each tile row
      for (index_t i = 0; i < kTile; ++i) {
        float row[kTile];
        for (index_t jj = 0; jj < kTile; ++jj) row[jj] = i < rows && jj < cols ? src[i * ow + jj] : 0.0f;
        winograd_math::grad_output_1d<Scalar>(row, rows_t[i]);
      }
      for (int jj = 0; jj < kAlpha; ++jj) {
        const float col[kTile] = {rows_t[0][jj], rows_t[1][jj], rows_t[2][jj], rows_t[3][jj]};
        float out[kAlpha];
        winograd_math::grad_output_1d<Scalar>(col, out);
        for (int i = 0; i < kAlpha; ++i) t[(i * kAlpha + jj) * e_stride + k * ld + j] = out[i];
      }
    }
  }
}

// G (6x3) applied to a column g0, g1, g2 of filter taps (g[i * stride + k]), for `count`
// filters k at once, into out[a * stride + k]:
//   [ 1/4     0     0  ]
//   [-1/6  -1/6  -1/6  ]
//   [-1/6   1/6  -1/6  ]
//   [1/24  1/12   1/6  ]
//   [1/24 -1/12   1/6  ]
//   [  0     0     1   ]
void filter_column(index_t count, const float* __restrict g0, const float* __restrict g1,
                   const float* __restrict g2, float* __restrict o0, float* __restrict o1,
                   float* __restrict o2, float* __restrict o3, float* __restrict o4,
                   float* __restrict o5) {
  for (index_t k = 0; k < count; ++k) {
    const float outer = g0[k] + g2[k], ends = g0[k] * (1.0f / 24) + g2[k] * (1.0f / 6);
    o0[k] = g0[k] * 0.25f;
    o1[k] = (outer + g1[k]) * (-1.0f / 6);
    o2[k] = (outer - g1[k]) * (-1.0f / 6);
    o3[k] = ends + g1[k] * (1.0f / 12);
    o4[k] = ends - g1[k] * (1.0f / 12);
    o5[k] = g2[k];
  }
}

void filter_1d(index_t count, const float* g, index_t g_stride, float* out, index_t out_stride) {
  filter_column(count, g, g + g_stride, g + 2 * g_stride, out, out + out_stride, out + 2 * out_stride,
                out + 3 * out_stride, out + 4 * out_stride, out + 5 * out_stride);
}

// U[e] = (G g G^T)[e] of every filter pair, packed as the A operand: for element e,
// chunk [row0, row0 + kc) of C, MR-row panels of filters, the pair (k, c) at
// e*C*K' + row0*K' + (k - k%MR)*kc + (c - row0)*MR + k%MR (zero past K). One channel at
// a time, the filters as the inner (vectorised) loop.
void transform_filters(const Conv2dParams& p, index_t chunk, int mr, index_t m_padded,
                       const float* w, float* u) {
  const index_t channels = p.c, ld = m_padded;
  parallel_tasks(channels, threads_for_tasks(100.0 * p.k * channels, channels), [&](index_t c) {
    // Rows of K' floats: the taps g[r][s] (9, column s of rows at s, 3 + s, 6 + s), then
    // G g (18, row a, column s at 6 * s + a), then G g G^T (36, element a * 6 + b).
    thread_local std::vector<float> rows;
    rows.resize(static_cast<std::size_t>(63 * ld));
    float *taps = rows.data(), *half = taps + 9 * ld, *full = half + 18 * ld;
    for (index_t k = 0; k < p.k; ++k)
      for (int t = 0; t < 9; ++t) taps[t * ld + k] = w[(k * channels + c) * 9 + t];
    for (int t = 0; t < 9; ++t) std::fill(taps + t * ld + p.k, taps + (t + 1) * ld, 0.0f);
    for (int s = 0; s < 3; ++s) filter_1d(ld, taps + s * ld, 3 * ld, half + 6 * s * ld, ld);
    for (int a = 0; a < kAlpha; ++a) filter_1d(ld, half + a * ld, 6 * ld, full + 6 * a * ld, ld);
    const index_t row0 = c / chunk * chunk, kc = std::min(chunk, channels - row0);
    for (int e = 0; e < kElements; ++e) {
      float* dst = u + e * channels * ld + row0 * ld + (c - row0) * mr;
      const float* src = full + e * ld;
      for (index_t ir = 0; ir < ld; ir += mr)
        for (int i = 0; i < mr; ++i) dst[ir * kc + i] = src[ir + i];
    }
  });
}

// dw (pairs x 3 x 3) = G^T dU G for every filter pair, dU[e * pairs + pair]; pairs in
// batches, the inner loops over them (vectorised).
void untransform_filters(index_t pairs, const float* du, float* dw) {
  constexpr index_t kBatch = 256;
  constexpr float kGf[kAlpha][3] = {{0.25f, 0.0f, 0.0f},          {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                                    {-1.0f / 6, 1.0f / 6, -1.0f / 6}, {1.0f / 24, 1.0f / 12, 1.0f / 6},
                                    {1.0f / 24, -1.0f / 12, 1.0f / 6}, {0.0f, 0.0f, 1.0f}};
  for (index_t p0 = 0; p0 < pairs; p0 += kBatch) {
    const index_t count = std::min(kBatch, pairs - p0);
    float half[kAlpha][3][kBatch] = {};  // (dU G)[a][s]
    for (int a = 0; a < kAlpha; ++a)
      for (int b = 0; b < kAlpha; ++b) {
        const float* src = du + (a * kAlpha + b) * pairs + p0;
        for (int s = 0; s < 3; ++s) {
          const float g = kGf[b][s];
          if (g == 0.0f) continue;
          for (index_t i = 0; i < count; ++i) half[a][s][i] += src[i] * g;
        }
      }
    float out[9][kBatch] = {};  // (G^T dU G)[r][s]
    for (int a = 0; a < kAlpha; ++a)
      for (int r = 0; r < 3; ++r) {
        const float g = kGf[a][r];
        if (g == 0.0f) continue;
        for (int s = 0; s < 3; ++s)
          for (index_t i = 0; i < count; ++i) out[r * 3 + s][i] += g * half[a][s][i];
      }
    for (index_t i = 0; i < count; ++i)
      for (int t = 0; t < 9; ++t) dw[(p0 + i) * 9 + t] = out[t][i];
  }
}

// A stride of whole 64-byte lines, an odd number of them: the 36 elements of a tile, one
// stride apart, then fall in 36 different sets of L1 (at a multiple of 4 KiB they would
// all fall in one, and evict each other).
index_t odd_lines(index_t floats) {
  const index_t lines = (floats + 15) / 16;
  return (lines | 1) * 16;
}

}  // namespace

WinogradKernels winograd_kernels_portable() {
  return {&input_portable, &output_portable, &grad_output_portable};
}

bool conv2d_winograd_applies(const Conv2dParams& p) {
  // A panel's lanes may reach 33 images past its first: 64 images' offsets fit in int32.
  const double image = static_cast<double>(std::max(p.c * p.h * p.w, p.k * p.out_h() * p.out_w()));
  return p.r == 3 && p.s == 3 && p.stride_h == 1 && p.stride_w == 1 && p.dilation_h == 1 &&
         p.dilation_w == 1 && p.groups == 1 && 64.0 * image <= INT32_MAX;
}

namespace {

// The batch's 4x4 output tiles, numbered t = (n * tiles_h + th) * tiles_w + tw.
struct TileGrid {
  index_t out_h, out_w, tiles_w, image_tiles, tiles, x_image, y_image;
  explicit TileGrid(const Conv2dParams& p)
      : out_h(p.out_h()), out_w(p.out_w()), tiles_w((out_w + kTile - 1) / kTile),
        image_tiles((out_h + kTile - 1) / kTile * tiles_w), tiles(p.n * image_tiles),
        x_image(p.c * p.h * p.w), y_image(p.k * out_h * out_w) {}
};

// The lanes of the panel of tiles [first, first + count), as WinogradPanel describes them,
// offsets from the image of tile `first` (returned): the input patches' corners ...
index_t input_lanes(const Conv2dParams& p, const TileGrid& grid, index_t first, index_t count,
                    index_t nr, std::int32_t* corner, std::int32_t* row0, std::int32_t* col0) {
  const index_t n0 = first / grid.image_tiles;
  for (index_t j = 0; j < nr; ++j) {
    if (j >= count) {
      corner[j] = 0;
      row0[j] = col0[j] = kEmptyLane;
      continue;
    }
    const index_t t = first + j, n = t / grid.image_tiles;
    row0[j] = static_cast<std::int32_t>(t % grid.image_tiles / grid.tiles_w * kTile - p.pad_h);
    col0[j] = static_cast<std::int32_t>(t % grid.tiles_w * kTile - p.pad_w);
    corner[j] = static_cast<std::int32_t>((n - n0) * grid.x_image + row0[j] * p.w + col0[j]);
  }
  return n0;
}

// ... and the output tiles' first pixels (lanes past count are left as they are).
index_t output_lanes(const TileGrid& grid, index_t first, index_t count, std::int32_t* corner,
                     std::int32_t* row0, std::int32_t* col0) {
  const index_t n0 = first / grid.image_tiles;
  for (index_t j = 0; j < count; ++j) {
    const index_t t = first + j, n = t / grid.image_tiles;
    row0[j] = static_cast<std::int32_t>(t % grid.image_tiles / grid.tiles_w * kTile);
    col0[j] = static_cast<std::int32_t>(t % grid.tiles_w * kTile);
    corner[j] = static_cast<std::int32_t>((n - n0) * grid.y_image + row0[j] * grid.out_w + col0[j]);
  }
  return n0;
}

// Per-panel lane arrays: input corner, row, column; output corner, row, column.
struct Lanes {
  std::vector<std::int32_t> data;
  explicit Lanes(index_t nr) : data(static_cast<std::size_t>(6 * nr)) {}
  std::int32_t* at(int i, index_t nr) { return data.data() + i * nr; }
};

}  // namespace

void conv2d_forward_winograd(const Conv2dParams& p, const float* x, const float* w,
                             const float* bias, float* y) {
  const GemmKernel& kern = cpu_kernels().gemm;
  const WinogradKernels& transforms = cpu_kernels().winograd;
  const int mr = kern.mr, nr = kern.nr;
  const TileGrid grid(p);
  const index_t tiles = grid.tiles, y_plane = grid.out_h * grid.out_w;

  const index_t chunks = std::max<index_t>(1, (p.c + kern.panel_kc - 1) / kern.panel_kc);
  const index_t chunk = (p.c + chunks - 1) / chunks;
  const index_t m_padded = (p.k + mr - 1) / mr * mr;
  float* const u = block_workspace(2, kElements * p.c * m_padded);
  transform_filters(p, chunk, mr, m_padded, w, u);

  // Blocks as large as fit in L2, but enough for every thread (the block does not change
  // any result: each tile's arithmetic is the same wherever it sits).
  const double flops = 2.0 * kElements * static_cast<double>(tiles) * p.c * p.k;
  const int nthreads = threads_for(flops);
  const index_t tile_bytes = kElements * (p.c + m_padded) * static_cast<index_t>(sizeof(float));
  const index_t fitting = std::max<index_t>(nr, kBlockBytes / tile_bytes / nr * nr);
  const index_t share = (tiles + nthreads - 1) / nthreads;
  const index_t block = std::min(fitting, (share + nr - 1) / nr * nr);
  const index_t tasks = (tiles + block - 1) / block;

  parallel_tasks(tasks, std::min<int>(nthreads, static_cast<int>(tasks)), [&](index_t task) {
    const index_t t0 = task * block, count = std::min(block, tiles - t0);
    const index_t panels = (count + nr - 1) / nr, ld = panels * nr;
    const index_t v_stride = odd_lines(panels * p.c * nr), m_stride = odd_lines(m_padded * ld);
    float* v = block_workspace(0, kElements * v_stride);
    float* m = block_workspace(1, kElements * m_stride);
    Lanes lanes(nr);

    // Input transforms, panel by panel, into V (B panels: C x NR each).
    for (index_t q = 0; q < panels; ++q) {
      const index_t first = t0 + q * nr, in_panel = std::min<index_t>(nr, t0 + count - first);
      const index_t n0 = input_lanes(p, grid, first, in_panel, nr, lanes.at(0, nr), lanes.at(1, nr),
                                     lanes.at(2, nr));
      transforms.input(p.c, p.h, p.w, x + n0 * grid.x_image, p.h * p.w,
                       {lanes.at(0, nr), lanes.at(1, nr), lanes.at(2, nr), in_panel, nr},
                       v + q * p.c * nr, v_stride, nr);
    }

    // M[e] = U[e] @ V[e]: the B panel (a chunk of C x NR) stays in L1 across U's MR panels.
    for (int e = 0; e < kElements; ++e) {
      const float* u_e = u + e * p.c * m_padded;
      for (index_t q = 0; q < panels; ++q) {
        const float* v_panel = v + e * v_stride + q * p.c * nr;
        float* m_panel = m + e * m_stride + q * nr;
        for (index_t c0 = 0; c0 < p.c; c0 += chunk) {
          const index_t kc = std::min(chunk, p.c - c0);
          const float beta = c0 == 0 ? 0.0f : 1.0f;
          for (index_t ir = 0; ir < m_padded; ir += mr)
            kern.micro_kernel(kc, u_e + c0 * m_padded + ir * kc, v_panel + c0 * nr, m_panel + ir * ld,
                              ld, 1.0f, beta);
        }
      }
    }

    // Output transforms (plus the bias), panel by panel, into y.
    for (index_t q = 0; q < panels; ++q) {
      const index_t first = t0 + q * nr, in_panel = std::min<index_t>(nr, t0 + count - first);
      const index_t n0 = output_lanes(grid, first, in_panel, lanes.at(3, nr), lanes.at(4, nr), lanes.at(5, nr));
      transforms.output(p.k, grid.out_h, grid.out_w, m + q * nr, m_stride, ld,
                        {lanes.at(3, nr), lanes.at(4, nr), lanes.at(5, nr), in_panel, nr}, bias,
                        y + n0 * grid.y_image, y_plane);
    }
  });
}

void conv2d_weight_grad_winograd(const Conv2dParams& p, const float* x, const float* dy, float* dw) {
  const WinogradKernels& transforms = cpu_kernels().winograd;
  const index_t nr = cpu_kernels().gemm.nr;
  const TileGrid grid(p);
  const index_t tiles = grid.tiles, pairs = p.k * p.c, y_plane = grid.out_h * grid.out_w;

  // Blocks and slices from the shape alone (they fix the order of the sums over tiles).
  const index_t tile_bytes = kElements * (p.c + p.k) * static_cast<index_t>(sizeof(float));
  const index_t fitting = std::max<index_t>(nr, kBlockBytes / tile_bytes / nr * nr);
  const index_t block = std::min(fitting, (tiles + nr - 1) / nr * nr);
  const index_t blocks = (tiles + block - 1) / block;
  const index_t by_memory = std::max<index_t>(1, kWeightGradPartialFloats / (kElements * pairs));
  const index_t slices = std::min({kWeightGradSlices, blocks, by_memory});
  float* const partials = block_workspace(3, slices * kElements * pairs);
  const double flops = 2.0 * kElements * static_cast<double>(tiles) * pairs;

  parallel_tasks(slices, threads_for_tasks(flops, slices), [&](index_t slice) {
    index_t b_begin, b_end;
    split_range(blocks, static_cast<int>(slice), static_cast<int>(slices), 1, b_begin, b_end);
    float* du = partials + slice * kElements * pairs;  // dU[e] (K x C), e-major
    std::fill(du, du + kElements * pairs, 0.0f);
    const index_t v_stride = odd_lines(p.c * block), t_stride = odd_lines(p.k * block);
    float* v = block_workspace(0, kElements * v_stride);
    float* t = block_workspace(1, kElements * t_stride);
    Lanes lanes(nr);
    for (index_t b = b_begin; b < b_end; ++b) {
      const index_t t0 = b * block, count = std::min(block, tiles - t0);
      // V[e] (C x count) and T[e] = (A dY A^T)[e] (K x count), rows `block` floats apart.
      for (index_t q = 0; q * nr < count; ++q) {
        const index_t first = t0 + q * nr, in_panel = std::min<index_t>(nr, t0 + count - first);
        index_t n0 = input_lanes(p, grid, first, in_panel, nr, lanes.at(0, nr), lanes.at(1, nr),
                                 lanes.at(2, nr));
        transforms.input(p.c, p.h, p.w, x + n0 * grid.x_image, p.h * p.w,
                         {lanes.at(0, nr), lanes.at(1, nr), lanes.at(2, nr), in_panel, nr},
                         v + q * nr, v_stride, block);
        n0 = output_lanes(grid, first, in_panel, lanes.at(3, nr), lanes.at(4, nr), lanes.at(5, nr));
        transforms.grad_output(p.k, grid.out_h, grid.out_w, dy + n0 * grid.y_image, y_plane,
                               {lanes.at(3, nr), lanes.at(4, nr), lanes.at(5, nr), in_panel, nr},
                               t + q * nr, t_stride, block);
      }
      // dU[e] += T[e] @ V[e]^T, over this block's tiles.
      for (int e = 0; e < kElements; ++e)
        gemm(p.k, p.c, count, 1.0f, {t + e * t_stride, block, 1}, {v + e * v_stride, 1, block}, 1.0f,
             du + e * pairs, p.c);
    }
  });

  const index_t sums = kElements * pairs;
  if (slices > 1) {
    parallel_for(sums, threads_for(static_cast<double>(slices * sums)), [&](index_t i) {
      float sum = partials[i];
      for (index_t slice = 1; slice < slices; ++slice) sum += partials[slice * sums + i];
      partials[i] = sum;
    });
  }
  untransform_filters(pairs, partials, dw);
}

}  // namespace kiln::detail
