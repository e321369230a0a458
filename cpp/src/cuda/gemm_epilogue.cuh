// kiln CUDA (private): the fused epilogue of the GEMM kernels and the activations it applies.
//
//   C = act(alpha * acc + beta * C + bias)        bias per column (nn.Linear) or per row (conv)
//
// The activations are kiln's (cpp/src/cpu/activation_math.hpp): the same formulas (gelu
// through erfc, gelu_tanh as x * sigmoid(2u), a sigmoid that never overflows), in CUDA's
// float functions, so they agree with the CPU within a few ulp.
#pragma once

#include <cstdint>

#include "cuda_compat.hpp"
#include "unroll.hpp"
#include "kiln/common.hpp"

namespace kiln::cuda::detail {

// A namespace of their own: other kernel families have activation helpers of these names.
namespace epilogue_math {

__device__ __forceinline__ float sigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  const float e = expf(x);
  return e / (1.0f + e);
}

__device__ __forceinline__ float activate(Activation act, float x) {
  switch (act) {
    case Activation::none: return x;
    case Activation::relu: return x > 0.0f ? x : (x == x ? 0.0f : x);  // NaN propagates
    case Activation::sigmoid: return sigmoid(x);
    case Activation::tanh: return tanhf(x);
    case Activation::gelu: return 0.5f * x * erfcf(-x * 0.70710678118654752440f);
    case Activation::gelu_tanh: {
      const float inner = 0.79788456080286535588f * (x + 0.044715f * x * x * x);
      return x * sigmoid(2.0f * inner);
    }
  }
  return x;
}

// d act / d pre-activation from the output y, for the activations whose derivative is a
// function of y (linear_backward's: none, relu, sigmoid, tanh).
__device__ __forceinline__ float derivative_from_output(Activation act, float y) {
  switch (act) {
    case Activation::relu: return y > 0.0f ? 1.0f : 0.0f;
    case Activation::sigmoid: return y * (1.0f - y);
    case Activation::tanh: return (1.0f - y) * (1.0f + y);
    default: return 1.0f;
  }
}

}  // namespace epilogue_math

enum class BiasAxis : int { none, per_column, per_row };

// C[z] (m, n) row-major with leading dimension ldc and batch stride; bias and bias2 (both
// optional, added in that order) along `bias_axis`. With beta == 0, C is not read.
struct LinearEpilogue {
  float* c = nullptr;
  index_t ldc = 0, batch_stride_c = 0;
  float alpha = 1.0f, beta = 0.0f;
  const float* bias = nullptr;
  const float* bias2 = nullptr;
  BiasAxis bias_axis = BiasAxis::none;
  Activation activation = Activation::none;
  bool vector_ok = false;  // float4 stores: aligned base, ldc and batch stride multiples of 4

  __device__ __forceinline__ void store(index_t z, index_t row, index_t col, float4 v4,
                                        int count) const {
    float* p = c + z * batch_stride_c + row * ldc + col;
    float v[4] = {v4.x, v4.y, v4.z, v4.w};
    float old[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    const bool vector = vector_ok && count == 4;
    if (beta != 0.0f) {
      if (vector) {
        const float4 o = *reinterpret_cast<const float4*>(p);
        old[0] = o.x; old[1] = o.y; old[2] = o.z; old[3] = o.w;
      } else {
        for (int j = 0; j < count; ++j) old[j] = p[j];
      }
    }
KILN_UNROLL
    for (int j = 0; j < 4; ++j) {
      float t = alpha * v[j];
      if (beta != 0.0f) t = t + beta * old[j];
      if (bias_axis == BiasAxis::per_column) {
        if (bias && j < count) t = t + bias[col + j];
        if (bias2 && j < count) t = t + bias2[col + j];
      } else if (bias_axis == BiasAxis::per_row) {
        if (bias) t = t + bias[row];
        if (bias2) t = t + bias2[row];
      }
      v[j] = epilogue_math::activate(activation, t);
    }
    if (vector) {
      *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
    } else {
      for (int j = 0; j < count; ++j) p[j] = v[j];
    }
  }
};

}  // namespace kiln::cuda::detail
