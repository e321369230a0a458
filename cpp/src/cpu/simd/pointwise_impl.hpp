// Internal: the pointwise and row kernels of pointwise_kernel.hpp, written once over a
// vector type V (simd/vec_avx2.hpp, simd/vec_avx512.hpp) and instantiated per ISA.
//
// Approximations (float, measured against float64 over [-20, 20]: see the tests):
//   exp:   Cephes' range reduction x = n ln2 + r and degree-6 polynomial, ~1 ulp;
//          2^n applied in two halves so that results reach the subnormals.
//   tanh:  an odd polynomial for |x| < 0.625 (Cephes), else 1 - 2 / (exp(2|x|) + 1).
//   erfc:  t exp(-z^2 + P(t)), t = 1 / (1 + z/2), the Chebyshev fit of Numerical Recipes
//          (relative error < 1.2e-7 in exact arithmetic), 2 - erfc(-z) below zero.
// NaN propagates through every function; overflow gives inf and underflow 0 as libm.
#pragma once

#include "../pointwise_kernel.hpp"

namespace kiln::detail::simd {

template <class V>
V exp(V x) {
  x = max(V::set1(-104.0f), x);  // NaN stays NaN: max returns its second operand
  x = min(V::set1(89.0f), x);    // exp(89) is already inf in float
  const V n = round_nearest(x * V::set1(1.44269504088896341f));
  V r = fnmadd(n, V::set1(0.693359375f), x);
  r = fnmadd(n, V::set1(-2.12194440e-4f), r);
  V p = V::set1(1.9875691500e-4f);
  p = fmadd(p, r, V::set1(1.3981999507e-3f));
  p = fmadd(p, r, V::set1(8.3334519073e-3f));
  p = fmadd(p, r, V::set1(4.1665795894e-2f));
  p = fmadd(p, r, V::set1(1.6666665459e-1f));
  p = fmadd(p, r, V::set1(5.0000001201e-1f));
  p = fmadd(p * r, r, r + V::set1(1.0f));
  // n in [-150, 129]: two factors 2^half, each a normal number.
  const V half = round_nearest(n * V::set1(0.5f));
  return p * pow2_int(half) * pow2_int(n - half);
}

template <class V>
V sigmoid(V x) {
  return V::set1(1.0f) / (V::set1(1.0f) + exp(V::set1(0.0f) - x));
}

template <class V>
V tanh(V x) {
  const V a = abs(x);
  const V z = x * x;
  V p = V::set1(-5.70498872745e-3f);
  p = fmadd(p, z, V::set1(2.06390887954e-2f));
  p = fmadd(p, z, V::set1(-5.37397155531e-2f));
  p = fmadd(p, z, V::set1(1.33314422036e-1f));
  p = fmadd(p, z, V::set1(-3.33332819422e-1f));
  const V small = fmadd(p * z, x, x);
  const V e = exp(a + a);
  const V large = V::set1(1.0f) - V::set1(2.0f) / (e + V::set1(1.0f));
  return select(less(a, V::set1(0.625f)), small, bit_xor(large, sign_bit(x)));
}

// erfc(u) for any u.
template <class V>
V erfc(V u) {
  const V z = abs(u);
  const V t = V::set1(1.0f) / fmadd(V::set1(0.5f), z, V::set1(1.0f));
  V p = V::set1(0.17087277f);
  p = fmadd(p, t, V::set1(-0.82215223f));
  p = fmadd(p, t, V::set1(1.48851587f));
  p = fmadd(p, t, V::set1(-1.13520398f));
  p = fmadd(p, t, V::set1(0.27886807f));
  p = fmadd(p, t, V::set1(-0.18628806f));
  p = fmadd(p, t, V::set1(0.09678418f));
  p = fmadd(p, t, V::set1(0.37409196f));
  p = fmadd(p, t, V::set1(1.00002368f));
  p = fmadd(p, t, V::set1(-1.26551223f));
  const V positive = t * exp(fnmadd(z, z, p));
  return select(less(u, V::set1(0.0f)), V::set1(2.0f) - positive, positive);
}

constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kSqrt2OverPi = 0.79788456080286535588f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;
constexpr float kGeluTanhCoeff = 0.044715f;

// Phi(x) = erfc(-x / sqrt 2) / 2, accurate on the negative tail (see activation_math.hpp).
template <class V>
V normal_cdf(V x) {
  return V::set1(0.5f) * erfc(x * V::set1(-kInvSqrt2));
}

template <class V>
V activate(Activation act, V x) {
  switch (act) {
    case Activation::none: return x;
    case Activation::relu: return max(V::set1(0.0f), x) + V::set1(0.0f);  // NaN stays, -0 -> 0
    case Activation::sigmoid: return sigmoid(x);
    case Activation::tanh: return tanh(x);
    case Activation::gelu: return x * normal_cdf(x);
    case Activation::gelu_tanh: {
      const V inner = V::set1(kSqrt2OverPi) * fmadd(V::set1(kGeluTanhCoeff) * x, x * x, x);
      return x * sigmoid(inner + inner);
    }
  }
  return x;
}

// dy * act'(x), from x (relu, gelu) or y (sigmoid, tanh), as activation_math.hpp.
template <class V>
V activation_grad(Activation act, V x, V y, V dy) {
  const V one = V::set1(1.0f);
  switch (act) {
    case Activation::none: return dy;
    case Activation::relu: return select(less_equal(x, V::set1(0.0f)), V::set1(0.0f), dy);
    case Activation::sigmoid: return dy * (y * (one - y));
    case Activation::tanh: return dy * fnmadd(y, y, one);
    case Activation::gelu: {
      const V pdf = V::set1(kInvSqrt2Pi) * exp(V::set1(-0.5f) * x * x);
      return dy * fmadd(x, pdf, normal_cdf(x));
    }
    case Activation::gelu_tanh: {
      const V x2 = x * x;
      const V inner = V::set1(kSqrt2OverPi) * fmadd(V::set1(kGeluTanhCoeff) * x2, x, x);
      const V s = sigmoid(inner + inner);
      const V d_inner = V::set1(kSqrt2OverPi) * fmadd(V::set1(3.0f * kGeluTanhCoeff), x2, one);
      return dy * fmadd((x + x) * s * (one - s), d_inner, s);
    }
  }
  return dy;
}

// f over whole vectors, then once over the masked tail.
template <class V, int kAct>
void forward_loop(index_t n, const float* x, float* y) {
  constexpr Activation act = static_cast<Activation>(kAct);
  index_t i = 0;
  for (; i + V::kLanes <= n; i += V::kLanes) V::store(y + i, activate(act, V::load(x + i)));
  if (i < n) V::store_partial(y + i, activate(act, V::load_partial(x + i, n - i)), n - i);
}

// Only the operand the derivative reads is loaded (the other may be null); it is
// passed as both x and y.
template <class V, int kAct>
void backward_loop(index_t n, const float* x, const float* y, const float* dy, float* dx) {
  constexpr Activation act = static_cast<Activation>(kAct);
  constexpr bool kReadsX = act == Activation::relu || act == Activation::gelu ||
                           act == Activation::gelu_tanh;
  const float* saved = kReadsX ? x : y;
  index_t i = 0;
  for (; i + V::kLanes <= n; i += V::kLanes) {
    const V s = act == Activation::none ? V::set1(0.0f) : V::load(saved + i);
    V::store(dx + i, activation_grad(act, s, s, V::load(dy + i)));
  }
  if (i < n) {
    const index_t r = n - i;
    const V s = act == Activation::none ? V::set1(0.0f) : V::load_partial(saved + i, r);
    V::store_partial(dx + i, activation_grad(act, s, s, V::load_partial(dy + i, r)), r);
  }
}

template <class V>
void activation_forward(Activation act, index_t n, const float* x, float* y) {
  switch (act) {
    case Activation::none: forward_loop<V, 0>(n, x, y); break;
    case Activation::relu: forward_loop<V, 1>(n, x, y); break;
    case Activation::sigmoid: forward_loop<V, 2>(n, x, y); break;
    case Activation::tanh: forward_loop<V, 3>(n, x, y); break;
    case Activation::gelu: forward_loop<V, 4>(n, x, y); break;
    case Activation::gelu_tanh: forward_loop<V, 5>(n, x, y); break;
  }
}

template <class V>
void activation_backward(Activation act, index_t n, const float* x, const float* y,
                         const float* dy, float* dx) {
  switch (act) {
    case Activation::none: backward_loop<V, 0>(n, x, y, dy, dx); break;
    case Activation::relu: backward_loop<V, 1>(n, x, y, dy, dx); break;
    case Activation::sigmoid: backward_loop<V, 2>(n, x, y, dy, dx); break;
    case Activation::tanh: backward_loop<V, 3>(n, x, y, dy, dx); break;
    case Activation::gelu: backward_loop<V, 4>(n, x, y, dy, dx); break;
    case Activation::gelu_tanh: backward_loop<V, 5>(n, x, y, dy, dx); break;
  }
}

// A NaN may be skipped (max returns its second operand): it poisons the row's sum of
// exponentials anyway.
template <class V>
float row_max(const float* x, index_t n) {
  V m = V::set1(-__builtin_inff());
  index_t i = 0;
  for (; i + V::kLanes <= n; i += V::kLanes) m = max(V::load(x + i), m);
  float result = reduce_max(m);
  for (; i < n; ++i) result = x[i] > result ? x[i] : result;
  return result;
}

template <class V>
float exp_shifted_sum(const float* x, index_t n, float shift, float* e) {
  const V s = V::set1(shift);
  V sum = V::set1(0.0f);
  index_t i = 0;
  for (; i + V::kLanes <= n; i += V::kLanes) {
    const V t = exp(V::load(x + i) - s);
    if (e) V::store(e + i, t);
    sum = sum + t;
  }
  if (i < n) {
    const index_t r = n - i;
    const V t = select(V::lanes_below(r), exp(V::load_partial(x + i, r) - s), V::set1(0.0f));
    if (e) V::store_partial(e + i, t, r);
    sum = sum + t;
  }
  return reduce_add(sum);
}

template <class V>
void scale_shift(float* g, index_t n, float scale, float shift) {
  const V a = V::set1(scale), b = V::set1(-shift);
  index_t i = 0;
  for (; i + V::kLanes <= n; i += V::kLanes) V::store(g + i, fmadd(V::load(g + i), a, b));
  if (i < n) V::store_partial(g + i, fmadd(V::load_partial(g + i, n - i), a, b), n - i);
}

template <class V>
PointwiseKernels pointwise_kernels() {
  return {&activation_forward<V>, &activation_backward<V>, &row_max<V>, &exp_shifted_sum<V>,
          &scale_shift<V>};
}

}  // namespace kiln::detail::simd
