// kiln: loss functions with mean reduction, as torch.nn.functional, numerically
// stable. Each writes the scalar loss to *loss and, when grad is non-null, the
// gradient d loss / d input times grad_scale (the upstream gradient) in the same pass.
// Sums run in double over blocks fixed by the sizes alone, so results are
// bit-identical for any thread count. A mean over zero terms is NaN, as in torch.
#pragma once

#include <cstdint>

#include "kiln/common.hpp"

namespace kiln {

struct CrossEntropyParams {
  index_t rows = 0;                  // N
  index_t classes = 0;               // C >= 1
  std::int64_t ignore_index = -100;  // class-index targets equal to it count for nothing
  float label_smoothing = 0.0f;      // in [0, 1]
  float grad_scale = 1.0f;
};

// softmax + negative log-likelihood, torch's cross_entropy with class-index targets.
//   logits: (N, C); target: (N,) in [0, C) or == ignore_index; grad: (N, C) or null
// The mean runs over the rows not ignored.
void softmax_cross_entropy(const CrossEntropyParams& p, const float* logits,
                           const std::int64_t* target, float* loss, float* grad);

// The same with class-probability targets: target (N, C); the mean runs over N.
void softmax_cross_entropy_probs(const CrossEntropyParams& p, const float* logits,
                                 const float* target, float* loss, float* grad);

// torch's binary_cross_entropy_with_logits, any shape seen as (rows, cols):
//   logits, target, grad: (rows, cols); pos_weight: (cols,) or null, weighting positives
void bce_with_logits(index_t rows, index_t cols, const float* logits, const float* target,
                     const float* pos_weight, float grad_scale, float* loss, float* grad);

// Mean squared error: pred, target, grad: (n,).
void mse(index_t n, const float* pred, const float* target, float grad_scale, float* loss,
         float* grad);

}  // namespace kiln
