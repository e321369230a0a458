// Internal: scalar activations and their derivatives: the portable pointwise
// kernels, and the scalar fused code (LSTM gates, loss terms).
#pragma once

#include <cmath>

#include "kiln/common.hpp"

namespace kiln::detail {

inline float sigmoid(float x) {
  // Stable on both tails: exp never overflows.
  if (x >= 0.0f) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kSqrt2OverPi = 0.79788456080286535588f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;
constexpr float kGeluTanhCoeff = 0.044715f;

// Phi(x) as erfc(-x / sqrt 2) / 2, not (1 + erf) / 2: for negative x the latter
// cancels to a few correct bits in float.
inline float gelu(float x) { return 0.5f * x * std::erfc(-x * kInvSqrt2); }

// 0.5 * (1 + tanh(u)) is sigmoid(2u), which keeps its precision where tanh(u) -> -1.
inline float gelu_tanh(float x) {
  const float inner = kSqrt2OverPi * (x + kGeluTanhCoeff * x * x * x);
  return x * sigmoid(2.0f * inner);
}

inline float activate(Activation act, float x) {
  switch (act) {
    case Activation::none: return x;
    case Activation::relu: return x > 0.0f ? x : (x == x ? 0.0f : x);  // NaN propagates
    case Activation::sigmoid: return sigmoid(x);
    case Activation::tanh: return std::tanh(x);
    case Activation::gelu: return gelu(x);
    case Activation::gelu_tanh: return gelu_tanh(x);
  }
  return x;
}

// d act(x)/dx, from the input x and the output y = act(x) (whichever is cheaper).
inline float activation_derivative(Activation act, float x, float y) {
  switch (act) {
    case Activation::none: return 1.0f;
    case Activation::relu: return x > 0.0f ? 1.0f : 0.0f;
    case Activation::sigmoid: return y * (1.0f - y);
    case Activation::tanh: return (1.0f - y) * (1.0f + y);  // 1 - y*y cancels near |y| = 1
    case Activation::gelu: {
      const float cdf = 0.5f * std::erfc(-x * kInvSqrt2);
      const float pdf = kInvSqrt2Pi * std::exp(-0.5f * x * x);
      return cdf + x * pdf;
    }
    case Activation::gelu_tanh: {
      // With s = sigmoid(2u): 0.5 * (1 + tanh(u)) = s and 1 - tanh(u)^2 = 4 s (1 - s).
      const float x2 = x * x;
      const float inner = kSqrt2OverPi * (x + kGeluTanhCoeff * x2 * x);
      const float s = sigmoid(2.0f * inner);
      const float d_inner = kSqrt2OverPi * (1.0f + 3.0f * kGeluTanhCoeff * x2);
      return s + 2.0f * x * s * (1.0f - s) * d_inner;
    }
  }
  return 1.0f;
}

}  // namespace kiln::detail
