// kiln: backward of a fully connected layer with a fused activation, in one call.
//
//   forward:  y = act(x @ op(w) + bias)
//     x (m, in), y (m, out), bias (out,)
//     w (out, in) when weight_is_out_by_in (torch nn.Linear), else (in, out) (Keras Dense)
//   backward, from dy (m, out) and the forward output y:
//     dz = dy * act'(.)                 (act in none, relu, sigmoid, tanh: each derivative
//                                        is a function of y; dz is written to scratch)
//     dx = dz @ op(w)^T                 (m, in)     when dx is not null
//     dw = dz^T @ x  or  x^T @ dz       w's shape   when dw is not null
//     db = sum over rows of dz          (out,)      when db is not null
//
// One call instead of four keeps a small layer's backward in C++: the Python layer
// pays one crossing per layer. dx, dw and db are overwritten.
#pragma once

#include "kiln/common.hpp"

namespace kiln {

struct LinearBackwardParams {
  index_t m = 0, in_features = 0, out_features = 0;
  bool weight_is_out_by_in = true;
  Activation activation = Activation::none;  // none, relu, sigmoid or tanh
};

// scratch: (m, out), used when activation != none (may be dy itself to overwrite it).
void linear_backward(const LinearBackwardParams& p, const float* x, const float* w, const float* y,
                     const float* dy, float* scratch, float* dx, float* dw, float* db);

}  // namespace kiln
