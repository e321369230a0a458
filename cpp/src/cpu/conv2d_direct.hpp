// Internal: conv2d forward without a GEMM, for reductions too short to feed one (the
// first layer of an image model: C = 1, 3x3) or too few filters to fill its tiles.
//
// Each image's group is copied once into a zero-padded buffer, so every tap of every
// output pixel is an in-bounds read; a row kernel then sums, for 4 filters at a time,
// tap after tap into a row of output pixels held in registers:
//
//   out[f * ld + j] = sum over t < taps of w4[t * 4 + f] * x[offsets[t] + j]   f < 4, j < width
//
// x (N, C, H, W), w (K, C/g, R, S), bias (K,) or null, y (N, K, OH, OW). stride_w must be 1.
#pragma once

#include "kiln/conv2d.hpp"

namespace kiln::detail {

// Row kernels (the table in dispatch.cpp picks one): width is a multiple of 8;
// x[offsets[t] + j] must be readable for every t and j < width.
using ConvDirectRowKernel = void (*)(index_t taps, const index_t* offsets, const float* x,
                                     const float* w4, index_t width, float* out, index_t ld);
void conv2d_direct_row_portable(index_t taps, const index_t* offsets, const float* x,
                                const float* w4, index_t width, float* out, index_t ld);
void conv2d_direct_row_avx2(index_t taps, const index_t* offsets, const float* x,
                            const float* w4, index_t width, float* out, index_t ld);

// Whether the direct path is the faster one for p (which must pass conv2d_check).
bool conv2d_direct_suits(const Conv2dParams& p, int gemm_mr);

void conv2d_forward_direct(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                           float* y);

}  // namespace kiln::detail
