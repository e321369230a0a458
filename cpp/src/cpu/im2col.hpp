// Internal: im2col and its adjoint col2im, the bridge from convolution to the GEMM engine.
//
// Both work on one group of one image and on a block of output pixels, so that a
// convolution never materialises the whole (C*R*S, OH*OW) column matrix:
//
//   x_group is (C/groups, H, W): the group's channels of one image
//   cols    is (C/groups * R * S, count), row (c, r, s), column q = output pixel p0 + q,
//           pixels numbered row-major over (OH, OW)
//
//   cols[(c, r, s), q] = x_group[c, oh*stride_h - pad_h + r*dilation_h,
//                                   ow*stride_w - pad_w + s*dilation_w]   (0 outside x)
#pragma once

#include "kiln/conv2d.hpp"

namespace kiln::detail {

void im2col(const Conv2dParams& p, const float* x_group, index_t p0, index_t count, float* cols);

// Rows [row0, row0 + rows) of the column block, laid out as the GEMM micro-kernel's B
// operand: panels of nr pixels, panel j at panels + j*rows*nr holding element (row q,
// pixel j*nr + i) at q*nr + i; the last panel is zero padded to nr pixels.
void im2col_panels(const Conv2dParams& p, const float* x_group, index_t p0, index_t count,
                   index_t row0, index_t rows, int nr, float* panels);

// x_group += the transpose of im2col applied to cols (each column scattered back, summed).
void col2im_add(const Conv2dParams& p, const float* cols, index_t p0, index_t count,
                float* x_group);

}  // namespace kiln::detail
