// Internal: conv2d forward by Winograd F(4x4, 3x3), for stride 1, dilation 1, groups 1,
// 3x3 filters and any padding (conv2d.cpp decides when).
//
//   x is (N, C, H, W), w is (K, C, 3, 3), bias (K,) or null, y is (N, K, OH, OW).
//
// The output is cut into 4x4 tiles, TH = ceil(OH/4) by TW = ceil(OW/4) per image, tile
// (th, tw) reading the 6x6 input patch d whose corner is (4*th - pad_h, 4*tw - pad_w)
// (outside x: zeros). With the Lavin-Gray matrices B (6x6), G (6x3), A (6x4):
//
//   U[e](K, C)     = (G g G^T)[e]   per filter pair (k, c), e < 36 (in double, once per call)
//   V[e](C, tiles) = (B^T d B)[e]   per channel and tile
//   M[e](K, tiles) = U[e] @ V[e]    36 GEMMs on the GEMM micro-kernel
//   y tile (4x4)   = A^T M A + bias per filter and tile; parts past (OH, OW) are dropped
//
// The weight gradient runs the same tiles backwards (conv2d_weight_grad_winograd).
//
// 36 * C * K multiplies per tile instead of 16 * 9 * C * K: 4x fewer. The transforms'
// rounding makes the error about 10x the direct sum's (docs/DESIGN.md: its tolerance).
//
// Tiles are numbered over the whole batch (n, th, tw) and taken in blocks of whole
// micro-kernel panels (NR tiles, the lanes of the transforms); each block is one task:
// transform its input into V (already in the micro-kernel's B panels), 36 GEMMs into M,
// transform M into y. Every output element is computed inside one task by the same
// arithmetic whatever the block, so no bit depends on the thread count.
#pragma once

#include <cstdint>

#include "kiln/conv2d.hpp"

namespace kiln::detail {

// One panel of nr tiles (lanes j < nr; lanes j >= count are empty).
//   input:  corner[j] = offset in x (from the panel's x) of the tile's patch corner, which
//           may lie in the padding; row0[j], col0[j] its row and column (negative in the
//           padding; empty lanes: far negative), so element (i, jj) is inside when
//           0 <= row0 + i < h and 0 <= col0 + jj < w.
//   output: corner[j] = offset in y of the tile's first output pixel, row0[j], col0[j]
//           its row and column: the tile writes rows < min(4, oh - row0), columns likewise.
struct WinogradPanel {
  const std::int32_t* corner;
  const std::int32_t* row0;
  const std::int32_t* col0;
  index_t count, nr;
};

// V: v[e * e_stride + c * ld + j] = (B^T d B)[e] of channel c < channels, tile j; empty
// lanes get zeros. x's channels are channel_stride (= h * w) apart.
using WinogradInputKernel = void (*)(index_t channels, index_t h, index_t w, const float* x,
                                     index_t channel_stride, const WinogradPanel& tiles, float* v,
                                     index_t e_stride, index_t ld);
// y tiles from M: m[e * e_stride + k * ld + j] for filter k < filters, tile j; bias (filters,)
// or null; filter k's plane of y is k * channel_stride (= oh * ow) from y.
using WinogradOutputKernel = void (*)(index_t filters, index_t oh, index_t ow, const float* m,
                                      index_t e_stride, index_t ld, const WinogradPanel& tiles,
                                      const float* bias, float* y, index_t channel_stride);

// The weight gradient's transform of dy's tiles (output tiles, as for WinogradOutputKernel):
// t[e * e_stride + k * ld + j] = (A dY A^T)[e] of filter k < filters, tile j, dY read as
// zero past (oh, ow) and in empty lanes; filter k's plane of dy is k * channel_stride from dy.
using WinogradGradOutputKernel = void (*)(index_t filters, index_t oh, index_t ow, const float* dy,
                                          index_t channel_stride, const WinogradPanel& tiles,
                                          float* t, index_t e_stride, index_t ld);

struct WinogradKernels {
  WinogradInputKernel input;
  WinogradOutputKernel output;
  WinogradGradOutputKernel grad_output;
};

WinogradKernels winograd_kernels_portable();
WinogradKernels winograd_kernels_avx2();
WinogradKernels winograd_kernels_avx512();

// Whether p's shape is one F(4x4, 3x3) computes: 3x3, stride 1, dilation 1, groups 1,
// and images small enough for the 32-bit offsets of the transforms.
bool conv2d_winograd_applies(const Conv2dParams& p);

// p must have passed conv2d_check and conv2d_winograd_applies, with N*K*OH*OW > 0.
void conv2d_forward_winograd(const Conv2dParams& p, const float* x, const float* w,
                             const float* bias, float* y);

// The weight gradient, dw (K, C, 3, 3) from x and dy (N, K, OH, OW), through the same tiles:
// the forward is linear in U = G g G^T, so
//
//   dU[e](K, C) = sum over tiles (A dY A^T)[e](K, tiles) @ V[e](C, tiles)^T,   dw = G^T dU G
//
// The tiles are summed in a fixed number of slices (by the shape alone), each into its
// own partial dU, the partials then added in slice order: no bit depends on the thread count.
void conv2d_weight_grad_winograd(const Conv2dParams& p, const float* x, const float* dy, float* dw);

}  // namespace kiln::detail
