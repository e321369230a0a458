// kiln: 2-D transposed convolution (torch.nn.functional.conv_transpose2d), forward and backward.
//
//   x  is (N, Cin, H, W)              the input, NCHW
//   w  is (Cin, Cout/groups, R, S)    the filters, torch's layout
//   bias is (Cout,) or null
//   y  is (N, Cout, OH, OW)           OH = (H-1)*stride_h - 2*pad_h + dilation_h*(R-1) + output_padding_h + 1
//
// y is the input gradient of conv2d(image (N, Cout, OH, OW), w read as (K = Cin, C/groups =
// Cout/groups, R, S)) given dy = x; so the kernels below run conv2d's paths (kiln/conv2d.hpp)
// with that conv2d's params (as_conv2d): the forward is its input gradient, the input
// gradient its forward, the weight gradient its weight gradient with dy and x swapped.
// output_padding must be below the stride (torch also takes it below the dilation).
//
// All tensors are dense and C-contiguous.
#pragma once

#include "kiln/common.hpp"
#include "kiln/conv2d.hpp"

namespace kiln {

struct ConvTranspose2dParams {
  index_t n = 0, c = 0, h = 0, w = 0;  // input: Cin channels
  index_t k = 0, r = 0, s = 0;         // output channels Cout, filter height and width
  index_t stride_h = 1, stride_w = 1;
  index_t pad_h = 0, pad_w = 0;
  index_t output_pad_h = 0, output_pad_w = 0;
  index_t dilation_h = 1, dilation_w = 1;
  index_t groups = 1;

  index_t out_h() const;
  index_t out_w() const;
  // The conv2d whose input gradient this is: (N, Cout, OH, OW) -> (N, Cin, H, W).
  Conv2dParams as_conv2d() const;
};

// Throws std::invalid_argument unless p is a valid transposed convolution (groups dividing
// Cin and Cout, 0 <= output_padding < stride, OH and OW >= 1, the conv2d of as_conv2d valid).
void conv_transpose2d_check(const ConvTranspose2dParams& p);

// y = conv_transpose2d(x, w) + bias.
void conv_transpose2d_forward(const ConvTranspose2dParams& p, const float* x, const float* w,
                              const float* bias, float* y);

// Gradients given dy (N, Cout, OH, OW): dx (N, Cin, H, W), dw (Cin, Cout/groups, R, S), db
// (Cout,); each computed, and overwritten, only when its pointer is not null.
void conv_transpose2d_backward(const ConvTranspose2dParams& p, const float* x, const float* w,
                               const float* dy, float* dx, float* dw, float* db);

}  // namespace kiln
