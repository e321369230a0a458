// Internal: the pointwise and row kernels that have one version per ISA.
//
//   activation_forward:  x, y (n,)          y = act(x)
//   activation_backward: x, y, dy, dx (n,)  dx = dy * act'(x); relu and gelu read x,
//                                            sigmoid and tanh read y (as activation.hpp)
//   *_streaming:         the same, writing y / dx with streaming stores (for outputs that
//                                            leave the caches before they are read)
//   row_max:             x (n,)             max, -inf for n == 0
//   exp_shifted_sum:     x, e (n,)          sum of exp(x - shift), storing each term to e
//                                            unless e is null (e may be x)
//   scale_shift:         g (n,)             g = g * scale - shift, in place
//
// Portable versions: activation.cpp and softmax_row.hpp, with libm's functions; SIMD
// versions: simd/pointwise_impl.hpp, with their own exp/tanh/erfc to ~2 ulp (float).
// Declarations only: this header is included by files compiled for other ISAs.
#pragma once

#include "kiln/common.hpp"

namespace kiln::detail {

using ActivationForwardKernel = void (*)(Activation act, index_t n, const float* x, float* y);
using ActivationBackwardKernel = void (*)(Activation act, index_t n, const float* x,
                                          const float* y, const float* dy, float* dx);
using RowMaxKernel = float (*)(const float* x, index_t n);
using ExpShiftedSumKernel = float (*)(const float* x, index_t n, float shift, float* e);
using ScaleShiftKernel = void (*)(float* g, index_t n, float scale, float shift);

struct PointwiseKernels {
  ActivationForwardKernel activation_forward;
  ActivationBackwardKernel activation_backward;
  ActivationForwardKernel activation_forward_streaming;
  ActivationBackwardKernel activation_backward_streaming;
  RowMaxKernel row_max;
  ExpShiftedSumKernel exp_shifted_sum;
  ScaleShiftKernel scale_shift;
};

PointwiseKernels pointwise_kernels_portable();
PointwiseKernels pointwise_kernels_avx2();
PointwiseKernels pointwise_kernels_avx512();

}  // namespace kiln::detail
