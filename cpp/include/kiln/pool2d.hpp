// kiln: 2-D max and average pooling (torch.nn.functional.max_pool2d / avg_pool2d).
//
//   x  is (N, C, H, W), y is (N, C, OH, OW), each plane (n, c) pooled on its own.
//
//   OH = floor_or_ceil((H + 2*pad_h - dilation_h*(kernel_h-1) - 1) / stride_h) + 1,
//   ceil when ceil_mode; with ceil_mode, a last window that would start in the right
//   padding (at or past H + pad_h) is dropped. OW likewise. As torch: padding at most
//   half the kernel, and OH, OW >= 1. Average pooling has no dilation.
//
// All tensors are dense and C-contiguous.
#pragma once

#include <cstdint>

#include "kiln/common.hpp"

namespace kiln {

struct Pool2dParams {
  index_t n = 0, c = 0, h = 0, w = 0;
  index_t kernel_h = 1, kernel_w = 1;
  index_t stride_h = 1, stride_w = 1;
  index_t pad_h = 0, pad_w = 0;
  index_t dilation_h = 1, dilation_w = 1;
  bool ceil_mode = false;

  index_t out_h() const;
  index_t out_w() const;
};

// Throw std::invalid_argument unless p is valid for that pooling (see above; each kernel
// below checks this itself). out_h() and out_w() are meaningful only for valid params.
void max_pool2d_check(const Pool2dParams& p);
void avg_pool2d_check(const Pool2dParams& p);

// y[n, c, i, j] = max of the window's input elements (padding never wins; NaN does, as
// in torch). indices (N, C, OH, OW), when not null, gets the position of that element
// in its plane, h * W + w: the first maximum, or the last NaN. A window lying wholly
// in the padding (possible only with dilation) is refused.
void max_pool2d_forward(const Pool2dParams& p, const float* x, float* y, std::int64_t* indices);

// dx (N, C, H, W) = 0, then dx[n, c].flat[indices[n, c, i, j]] += dy[n, c, i, j].
// Every index is checked to lie in [0, H*W) before anything is written.
void max_pool2d_backward(const Pool2dParams& p, const float* dy, const std::int64_t* indices,
                         float* dx);

// The same scatter for callers that hold only the sizes (the indices carry the rest):
// dy and indices are (planes, out_size), dx is (planes, in_size).
void max_pool2d_backward_scatter(index_t planes, index_t in_size, index_t out_size,
                                 const float* dy, const std::int64_t* indices, float* dx);

// y = the mean of each window. The divisor is divisor_override when it is not 0, else
// the window's size clipped to the padded input (count_include_pad) or the number of
// input elements it covers.
void avg_pool2d_forward(const Pool2dParams& p, const float* x, float* y, bool count_include_pad,
                        index_t divisor_override);

// dx (N, C, H, W) = the gradient of avg_pool2d_forward given dy (N, C, OH, OW).
void avg_pool2d_backward(const Pool2dParams& p, const float* dy, float* dx, bool count_include_pad,
                         index_t divisor_override);

}  // namespace kiln
