// kiln: pointwise activations and softmax, forward and backward, as torch.nn.functional.
//
// Values are bit-identical to the GEMM epilogue (bias + activation), which calls the
// same per-ISA kernel; the SIMD kernels use their own exp/tanh/erfc, within a few ulp
// of libm's (the portable path, KILN_CPU=portable). An output may be the very buffer
// of an input (in place); partly overlapping buffers are not allowed.
#pragma once

#include "kiln/common.hpp"

namespace kiln {

// x, y: (n,); y = act(x).
void activation_forward(Activation act, index_t n, const float* x, float* y);

// x, y, dy, dx: (n,); dx = dy * act'(x). relu and gelu read x, sigmoid and tanh read y
// (the other may be null). relu passes dy where x > 0 and 0 elsewhere, as torch.
void activation_backward(Activation act, index_t n, const float* x, const float* y,
                         const float* dy, float* dx);

// x, y: (rows, cols); softmax (or log_softmax when log) of each row.
void softmax_forward(index_t rows, index_t cols, const float* x, float* y, bool log);

// y, dy, dx: (rows, cols), y the forward output:
//   softmax:     dx = y * (dy - sum(dy * y))
//   log_softmax: dx = dy - exp(y) * sum(dy)
void softmax_backward(index_t rows, index_t cols, const float* y, const float* dy, float* dx,
                      bool log);

}  // namespace kiln
