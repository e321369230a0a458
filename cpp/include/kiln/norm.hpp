// kiln: layer normalization and batch normalization, forward and backward
// (torch.nn.functional.layer_norm / batch_norm; Keras LayerNormalization / BatchNormalization).
//
// Layer norm: x, y, dy, dx are (rows, cols), each row normalized on its own
// (cols = the product of normalized_shape); mean, rstd are (rows,); weight, bias,
// dweight, dbias are (cols,).
//   mean = sum(x) / cols, var = sum((x - mean)^2) / cols (biased), rstd = 1 / sqrt(var + eps)
//   y = (x - mean) * rstd * weight + bias
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * weight, xhat = (x - mean) * rstd
//   dweight = sum over rows of dy * xhat, dbias = sum over rows of dy
//
// Batch norm: x, y, dy, dx are (outer, channels, inner): NCHW is (N, C, H*W), (N, C) is
// (N, C, 1), channels-last (Keras axis=-1) is (N*H*W, C, 1). Per-channel vectors are
// (channels,). Training normalizes with the batch's mean and biased variance (over outer
// and inner), inference with the running statistics given.
//   y = (x - mean[c]) * invstd[c] * weight[c] + bias[c],   invstd = 1 / sqrt(var + eps)
//   training:  dx = weight * invstd * (dy - mean(dy) - xhat * mean(dy * xhat))
//   inference: dx = weight * invstd * dy
//   dweight = sum of dy * xhat, dbias = sum of dy (over outer and inner)
//
// weight and bias may be null (1 and 0); dweight and dbias may be null (not computed). All
// arrays are dense and C-contiguous. Statistics and weight gradients are summed in one fixed
// order whatever the thread count, so results repeat bit for bit.
#pragma once

#include "kiln/common.hpp"

namespace kiln {

struct LayerNormParams {
  index_t rows = 0, cols = 0;
  float eps = 1e-5f;
};

struct BatchNormParams {
  index_t outer = 0, channels = 0, inner = 0;
  float eps = 1e-5f;
};

// Throw std::invalid_argument unless the sizes are >= 0 (cols, channels >= 1), the element
// count is within kMaxElements and eps is finite and >= 0.
void layer_norm_check(const char* fn, const LayerNormParams& p);
void batch_norm_check(const char* fn, const BatchNormParams& p);

// y = layer_norm(x); mean and rstd (rows,) are saved for the backward.
void layer_norm_forward(const LayerNormParams& p, const float* x, const float* weight, const float* bias,
                        float* y, float* mean, float* rstd);

void layer_norm_backward(const LayerNormParams& p, const float* dy, const float* x, const float* mean,
                         const float* rstd, const float* weight, float* dx, float* dweight, float* dbias);

// training: save_mean, save_invstd (channels,) from the batch, and batch_var (the biased
// variance, for the caller's running statistics) unless null; running_mean/var unused.
// inference: running_mean, running_var (channels,) normalize; save_mean, save_invstd get
// running_mean and 1 / sqrt(running_var + eps) unless null; batch_var unused.
void batch_norm_forward(const BatchNormParams& p, const float* x, const float* weight, const float* bias,
                        const float* running_mean, const float* running_var, bool training, float* y,
                        float* save_mean, float* save_invstd, float* batch_var);

void batch_norm_backward(const BatchNormParams& p, const float* dy, const float* x, const float* save_mean,
                         const float* save_invstd, const float* weight, bool training, float* dx,
                         float* dweight, float* dbias);

}  // namespace kiln
