// kiln CUDA (private): the scalar activations and their derivatives on the device, the
// formulas of the CPU's cpp/src/cpu/activation_math.hpp one for one (stable sigmoid,
// gelu through erfc, gelu_tanh through sigmoid(2u)), so that the two devices differ only
// by the rounding of their libm functions (expf, erfcf, tanhf: a few ulp on either).
// Products and sums are written __fmul_rn / __fadd_rn, so nvcc fuses nothing the CPU
// does not.
#pragma once

#include "cuda_compat.hpp"
#include "kiln/common.hpp"

namespace kiln::cuda::detail {

__device__ __forceinline__ float sigmoid(float x) {
  if (x >= 0.0f) return __fdiv_rn(1.0f, __fadd_rn(1.0f, expf(-x)));
  const float e = expf(x);
  return __fdiv_rn(e, __fadd_rn(1.0f, e));
}

constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kSqrt2OverPi = 0.79788456080286535588f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;
constexpr float kGeluTanhCoeff = 0.044715f;

__device__ __forceinline__ float gelu(float x) {
  return __fmul_rn(__fmul_rn(0.5f, x), erfcf(__fmul_rn(-x, kInvSqrt2)));
}

__device__ __forceinline__ float gelu_tanh_inner(float x) {
  return __fmul_rn(kSqrt2OverPi, __fadd_rn(x, __fmul_rn(__fmul_rn(__fmul_rn(kGeluTanhCoeff, x), x), x)));
}

__device__ __forceinline__ float gelu_tanh(float x) {
  return __fmul_rn(x, sigmoid(__fmul_rn(2.0f, gelu_tanh_inner(x))));
}

template <Activation kAct>
__device__ __forceinline__ float activate(float x) {
  if constexpr (kAct == Activation::relu) return x > 0.0f ? x : (x == x ? 0.0f : x);
  else if constexpr (kAct == Activation::sigmoid) return sigmoid(x);
  else if constexpr (kAct == Activation::tanh) return tanhf(x);
  else if constexpr (kAct == Activation::gelu) return gelu(x);
  else if constexpr (kAct == Activation::gelu_tanh) return gelu_tanh(x);
  else return x;
}

// dy * act'(x), from the input x (relu, gelu) or the output y (sigmoid, tanh). relu is a
// select (torch's threshold_backward): dy's NaN stays out where x <= 0.
template <Activation kAct>
__device__ __forceinline__ float activation_grad(float x, float y, float dy) {
  if constexpr (kAct == Activation::relu) {
    return x <= 0.0f ? 0.0f : dy;
  } else if constexpr (kAct == Activation::sigmoid) {
    return __fmul_rn(dy, __fmul_rn(y, __fsub_rn(1.0f, y)));
  } else if constexpr (kAct == Activation::tanh) {
    // (1 - y)(1 + y): exact near saturation, where 1 - y*y cancels (the reference's form).
    return __fmul_rn(dy, __fmul_rn(__fsub_rn(1.0f, y), __fadd_rn(1.0f, y)));
  } else if constexpr (kAct == Activation::gelu) {
    const float cdf = __fmul_rn(0.5f, erfcf(__fmul_rn(-x, kInvSqrt2)));
    const float pdf = __fmul_rn(kInvSqrt2Pi, expf(__fmul_rn(__fmul_rn(-0.5f, x), x)));
    return __fmul_rn(dy, __fadd_rn(cdf, __fmul_rn(x, pdf)));
  } else if constexpr (kAct == Activation::gelu_tanh) {
    const float x2 = __fmul_rn(x, x);
    const float s = sigmoid(__fmul_rn(2.0f, gelu_tanh_inner(x)));
    const float d_inner = __fmul_rn(kSqrt2OverPi, __fadd_rn(1.0f, __fmul_rn(3.0f * kGeluTanhCoeff, x2)));
    const float ds = __fmul_rn(__fmul_rn(__fmul_rn(2.0f, x), s), __fmul_rn(__fsub_rn(1.0f, s), d_inner));
    return __fmul_rn(dy, __fadd_rn(s, ds));
  } else {
    return dy;
  }
}

}  // namespace kiln::cuda::detail
