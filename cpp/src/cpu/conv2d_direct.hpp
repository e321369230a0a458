// Internal: conv2d forward without a GEMM, for reductions too short to feed one (the
// first layer of an image model: C = 1 or 3, 3x3) or too few filters to fill its tiles
// (the input gradient of such a layer).
//
// Each task (image, group, block of output rows) first lays out its input as "tap planes"
// shaped like the output: with stride_h 1, one plane per input channel c and filter column
// s, holding x[c][h][ow * stride_w + s * dilation_w - pad_w] (zero outside x) for the rows h
// the block reads, so that tap (c, r, s) of output pixel q (numbered oh * OW + ow) is
// element q + r * dilation_h * OW of plane (c, s); with a larger stride_h, one plane per tap
// (im2col). Every tap of every output pixel is then one flat offset, and a row kernel sums,
// for 4 filters (or 1) at a time, tap after tap into the block's output pixels held in
// registers, writing y directly; the bias is one more tap, over a plane of ones:
//
//   out[f * ld + j] = sum over t < taps of w[t * F + f] * x[offsets[t] + j]   f < F, j < width
//
// x (N, C, H, W), w (K, C/g, R, S), bias (K,) or null, y (N, K, OH, OW).
#pragma once

#include "kiln/conv2d.hpp"

namespace kiln::detail {

// Row kernels (the table in dispatch.cpp picks them): F = 4 filters, w4[t * 4 + f], or
// F = 1 (the "row1" kernels), w[t]; taps >= 1. Only x[offsets[t] + j] for j < width is read and only
// out[f * ld + j] for j < width written.
using ConvDirectRowKernel = void (*)(index_t taps, const index_t* offsets, const float* x,
                                     const float* w4, index_t width, float* out, index_t ld);
void conv2d_direct_row_portable(index_t taps, const index_t* offsets, const float* x,
                                const float* w4, index_t width, float* out, index_t ld);
void conv2d_direct_row_avx2(index_t taps, const index_t* offsets, const float* x,
                            const float* w4, index_t width, float* out, index_t ld);
void conv2d_direct_row_avx512(index_t taps, const index_t* offsets, const float* x,
                              const float* w4, index_t width, float* out, index_t ld);
void conv2d_direct_row1_portable(index_t taps, const index_t* offsets, const float* x,
                                 const float* w, index_t width, float* out, index_t ld);
void conv2d_direct_row1_avx2(index_t taps, const index_t* offsets, const float* x,
                             const float* w, index_t width, float* out, index_t ld);
void conv2d_direct_row1_avx512(index_t taps, const index_t* offsets, const float* x,
                               const float* w, index_t width, float* out, index_t ld);

// The weight gradient's dot kernels, over the same tap planes: F = 2 filters ("dot") or 1
// ("dot1"), dy rows at dy + f * ld:
//   dw[f * taps + t] += sum over j < width of dy[f * ld + j] * x[offsets[t] + j]
using ConvDirectDotKernel = void (*)(index_t taps, const index_t* offsets, const float* x,
                                     const float* dy, index_t ld, index_t width, float* dw);
void conv2d_direct_dot_portable(index_t taps, const index_t* offsets, const float* x, const float* dy,
                                index_t ld, index_t width, float* dw);
void conv2d_direct_dot_avx2(index_t taps, const index_t* offsets, const float* x, const float* dy,
                            index_t ld, index_t width, float* dw);
void conv2d_direct_dot_avx512(index_t taps, const index_t* offsets, const float* x, const float* dy,
                              index_t ld, index_t width, float* dw);
void conv2d_direct_dot1_portable(index_t taps, const index_t* offsets, const float* x, const float* dy,
                                 index_t ld, index_t width, float* dw);
void conv2d_direct_dot1_avx2(index_t taps, const index_t* offsets, const float* x, const float* dy,
                             index_t ld, index_t width, float* dw);
void conv2d_direct_dot1_avx512(index_t taps, const index_t* offsets, const float* x, const float* dy,
                               index_t ld, index_t width, float* dw);

struct ConvDirectRowKernels {
  ConvDirectRowKernel four, one;
  ConvDirectDotKernel dot, dot1;
};

// Whether the direct path is the faster one for p (which must pass conv2d_check).
bool conv2d_direct_suits(const Conv2dParams& p, int gemm_mr);

void conv2d_forward_direct(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                           float* y);

// c[i * ldc + j] = sum over t < k of a[t * m + i] * b[t * ldb + j]   i < m, j < width
// on the row kernels, b read in place (k taps at offsets t * ldb): a product with rows too
// few for the GEMM's tiles (the input gradient's dcols = W^T @ dy when C*R*S <= 32).
void conv2d_direct_product(index_t m, index_t k, const float* a, const float* b, index_t ldb, index_t width,
                           float* c, index_t ldc);

// Whether the weight gradient takes the direct path: a reduction C/g * R * S this short
// fills too little of a GEMM tile.
bool conv2d_weight_grad_direct_suits(const Conv2dParams& p);

// dw (K, C/g, R, S) = the weight gradient summed over images [n_begin, n_end) in order, dy
// (N, K, OH, OW). Serial; dw is overwritten.
void conv2d_weight_grad_direct(const Conv2dParams& p, const float* x, const float* dy, index_t n_begin,
                               index_t n_end, float* dw);

}  // namespace kiln::detail
