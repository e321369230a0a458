// kiln: one step of Adam / AdamW over a flat parameter buffer, in place, in one pass.
//
//   param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq: (n,) each, distinct buffers
//
// Exactly torch.optim.Adam (decoupled = false: weight_decay * param is added to the
// gradient) or torch.optim.AdamW (decoupled = true: param *= 1 - lr * weight_decay),
// with torch's bias correction, amsgrad and maximize:
//
//   g = (maximize ? -grad : grad) [+ weight_decay * param]
//   exp_avg    = beta1 * exp_avg    + (1 - beta1) * g
//   exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g
//   v          = amsgrad ? (max_exp_avg_sq = max(max_exp_avg_sq, exp_avg_sq)) : exp_avg_sq
//   param     -= lr / (1 - beta1^step) * exp_avg / (sqrt(v) / sqrt(1 - beta2^step) + eps)
//
// max_exp_avg_sq is read and written only with amsgrad (it may be null otherwise).
#pragma once

#include "kiln/common.hpp"

namespace kiln {

// Hyperparameters are double, as the Python floats torch computes them from: in
// float, 1 - 0.999f is 1.3e-5 away from 1 - 0.999, which shows in every update.
struct AdamParams {
  index_t step = 0;  // 1-based count of steps including this one (torch's state["step"]); required
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool decoupled = false;  // AdamW
  bool amsgrad = false;
  bool maximize = false;
};

void adam_step(const AdamParams& p, index_t n, float* param, const float* grad, float* exp_avg,
               float* exp_avg_sq, float* max_exp_avg_sq);

}  // namespace kiln
