// kiln's bindings: kiln::AdamParams from the arguments both adam_step bindings take
// (kiln._C's over host arrays, kiln._cuda's over device buffers).
#pragma once

#include "kiln/adam.hpp"

namespace kiln::python_args {

inline AdamParams adam_params(index_t step, double lr, double beta1, double beta2, double eps,
                              double weight_decay, bool decoupled, bool amsgrad, bool maximize) {
  AdamParams p;
  p.step = step;
  p.lr = lr;
  p.beta1 = beta1;
  p.beta2 = beta2;
  p.eps = eps;
  p.weight_decay = weight_decay;
  p.decoupled = decoupled;
  p.amsgrad = amsgrad;
  p.maximize = maximize;
  return p;
}

}  // namespace kiln::python_args
