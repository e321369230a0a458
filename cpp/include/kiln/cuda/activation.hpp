// kiln CUDA: pointwise activations and softmax on the device (kiln/activation.hpp).
//
//   activation_forward:  x, y (n,);  y = act(x)
//   activation_backward: x, y, dy, dx (n,);  dx = dy * act'(x); relu and gelu read x,
//                        sigmoid and tanh read y (the other may be null)
//   softmax_forward / softmax_backward over a strided row view of a C-contiguous array
//   seen as (outer, cols, inner): each of the outer * inner rows has cols elements
//   inner apart, element (o, k, i) at (o * cols + k) * inner + i. The last axis is
//   inner == 1; any other axis needs no transposed copy.
//     softmax:     y = exp(x - max) / sum;            dx = y * (dy - sum(dy * y))
//     log_softmax: y = (x - max) - log(sum);          dx = dy - exp(y) * sum(dy)
//
// The CPU's checks (std::invalid_argument); an output may be its input (in place). The
// formulas are the CPU's one for one, so results differ from it by the rounding of
// expf/erfcf/tanhf and of the reductions' order only.
#pragma once

#include "kiln/activation.hpp"
#include "kiln/common.hpp"
#include "kiln/cuda/runtime.hpp"

namespace kiln::cuda {

void activation_forward(Activation act, index_t n, const float* x, float* y, cudaStream_t stream = 0);

void activation_backward(Activation act, index_t n, const float* x, const float* y, const float* dy,
                         float* dx, cudaStream_t stream = 0);

void softmax_forward(index_t outer, index_t cols, index_t inner, const float* x, float* y, bool log,
                     cudaStream_t stream = 0);

void softmax_backward(index_t outer, index_t cols, index_t inner, const float* y, const float* dy,
                      float* dx, bool log, cudaStream_t stream = 0);

}  // namespace kiln::cuda
