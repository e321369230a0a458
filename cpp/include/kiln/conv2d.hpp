// kiln: 2-D convolution (torch.nn.functional.conv2d), forward and backward.
//
//   x  is (N, C, H, W)                 the input, NCHW
//   w  is (K, C/groups, R, S)          the filters
//   bias is (K,) or null
//   y  is (N, K, OH, OW)               OH = (H + 2*pad_h - dilation_h*(R-1) - 1) / stride_h + 1
//                                      OW likewise
//
//   y[n, k, i, j] = bias[k] + sum over c in k's group, r < R, s < S of
//       w[k, c, r, s] * x[n, c, i*stride_h - pad_h + r*dilation_h, j*stride_w - pad_w + s*dilation_w]
//   (positions outside the input read as zero). Channels are split into `groups`
//   equal groups; output channel k sees only the input channels of its group.
//
// All tensors are dense and C-contiguous. Results do not depend on the number of
// threads (kiln::set_num_threads).
#pragma once

#include "kiln/common.hpp"

namespace kiln {

struct Conv2dParams {
  index_t n = 0, c = 0, h = 0, w = 0;  // input
  index_t k = 0, r = 0, s = 0;         // output channels, filter height and width
  index_t stride_h = 1, stride_w = 1;
  index_t pad_h = 0, pad_w = 0;
  index_t dilation_h = 1, dilation_w = 1;
  index_t groups = 1;

  index_t out_h() const;
  index_t out_w() const;
};

// Throws std::invalid_argument unless p describes a valid convolution (sizes >= 0,
// stride >= 1, padding >= 0, dilation >= 1, groups dividing C and K, the dilated kernel
// within the padded input, each tensor at most kMaxElements). out_h() and out_w() are
// meaningful only for such params. Every kernel below checks this itself.
void conv2d_check(const Conv2dParams& p);

// y = conv2d(x, w) + bias.
void conv2d_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                    float* y);

// Gradients of conv2d_forward given dy (N, K, OH, OW): dx (N, C, H, W), dw (K, C/groups, R, S)
// and db (K,). Each is computed, and overwritten, only when its pointer is not null.
void conv2d_backward(const Conv2dParams& p, const float* x, const float* w, const float* dy,
                     float* dx, float* dw, float* db);

}  // namespace kiln
