// Internal: conv2d forward as an implicit GEMM on the GEMM micro-kernel, per group:
//
//   y_g (K/g, OH*OW) = W_g (K/g, CRS) @ cols_g (CRS, OH*OW) + bias_g     CRS = C/g * R * S
//
// W is packed once per call into the micro-kernel's MR-row panels; cols never exists
// whole: each task (image, group, block of output pixels) packs its block, one
// reduction chunk at a time, into NR-column panels and runs the micro-kernel over them.
// With stride 1 the pixels are numbered on the zero-padded input's grid, where each
// row of cols is the input shifted, so packing is plain copies; otherwise im2col_panels
// packs them. Threads take whole tasks, so every output element is summed in the same
// order for any thread count.
//
//   x is (N, C, H, W), w is (K, C/groups, R, S), bias (K,) or null, y is (N, K, OH, OW).
#pragma once

#include "kiln/conv2d.hpp"

namespace kiln::detail {

// p must have passed conv2d_check, with N*K*OH*OW > 0.
void conv2d_forward_gemm(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                         float* y);

// Stride 1: the input zero-padded by (pad_h, pad_w), planes (H + 2*pad_h) x (W + 2*pad_w),
// with a little slack after them; held in the calling thread's buffer until its next call.
const float* conv2d_pad_input(const Conv2dParams& p, const float* x);

// Stride 1: dw (K, C/groups, R, S) = the weight gradient summed over images [n_begin, n_end)
// in order, from padded = conv2d_pad_input(p, x). Serial; dw is overwritten.
//
// On the padded grid (pixels q = oh * wp + ow), dW^T (CRS x K/g) = X (CRS x grid) @ dY^T:
// per chunk of the grid, dy is transposed once into panels of NR filters per pixel (zero
// for the grid's dropped columns), and the micro-kernel below multiplies T taps at a time,
// reading each tap's row of X in place from the padded input (a shift of it).
void conv2d_weight_grad_stride1(const Conv2dParams& p, const float* padded, const float* dy,
                                index_t n_begin, index_t n_end, float* dw);


// The weight gradient's micro-kernel (the table in dispatch.cpp picks one; nr floats of b
// per pixel, 64-byte aligned):
//   c[i * ldc + j] += sum over q < kc of x[offsets[i] + q] * b[q * nr + j]    i < taps, j < nr
using ConvWgradTile = void (*)(index_t kc, const float* x, const index_t* offsets, const float* b, float* c,
                               index_t ldc);
// Its panel packing, a transpose: dst[c * nr + r] = src[r * ld + c] for r < rows (<= nr),
// c < cols, and 0 for rows <= r < nr.
using ConvWgradPack = void (*)(const float* src, index_t ld, index_t rows, index_t cols, float* dst, index_t nr);
struct ConvWgradKernel {
  int taps, nr;
  ConvWgradTile tile;
  ConvWgradPack pack;
};
void conv2d_wgrad_pack_portable(const float* src, index_t ld, index_t rows, index_t cols, float* dst, index_t nr);
void conv2d_wgrad_pack_avx2(const float* src, index_t ld, index_t rows, index_t cols, float* dst, index_t nr);
void conv2d_wgrad_pack_avx512(const float* src, index_t ld, index_t rows, index_t cols, float* dst, index_t nr);
void conv2d_wgrad_tile_portable(index_t kc, const float* x, const index_t* offsets, const float* b, float* c,
                                index_t ldc);  // taps 4, nr 16
void conv2d_wgrad_tile_avx2(index_t kc, const float* x, const index_t* offsets, const float* b, float* c,
                            index_t ldc);  // taps 6, nr 16
void conv2d_wgrad_tile_avx512(index_t kc, const float* x, const index_t* offsets, const float* b, float* c,
                              index_t ldc);  // taps 9, nr 32

}  // namespace kiln::detail
