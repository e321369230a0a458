// Internal: the pointwise and row kernels of pointwise_kernel.hpp, written once over a
// vector type V (simd/vec_avx2.hpp, simd/vec_avx512.hpp) and instantiated per ISA.
//
// Approximations (float, against float64; tests/test_pointwise.py's accuracy tests hold
// the measured errors in ulps):
//   exp:     Cephes' range reduction x = n ln2 + r, a degree-6 minimax polynomial, ~1 ulp;
//            2^n applied by ldexp (vscalefps on AVX-512), so that results reach the subnormals.
//   sigmoid: 1 / (1 + e) or e / (1 + e), e = exp(-|x|) (no overflow; the negative tail
//            keeps its relative precision down into the subnormals); gelu_tanh is x sigmoid(2u).
//   tanh:    -m / (2 + m), m = expm1(-2|x|) from exp's reduction and polynomial.
//   Phi:     Phi(-a) = t F(t) exp(-a^2 / 2) / 2, t = 1 / (1 + a / (2 sqrt 2)), F a degree-8
//            polynomial fitted to erfc(z) exp(z^2) / t, z = a / sqrt 2 (relative error 5e-8
//            exact, 1.7e-7 in float); a^2 / 2 is split in two floats so that exp's argument
//            is not rounded (gelu's negative tail keeps its relative precision). One exp
//            serves Phi and the density: gelu's backward costs what its forward does.
// NaN propagates through every function; overflow gives inf and underflow 0 as libm.
// The math is always_inline: GCC left sigmoid, tanh and Phi as calls inside the loops,
// passing vectors through memory.
#pragma once

#include <algorithm>
#include <cstdint>

#include "../pointwise_kernel.hpp"

namespace kiln::detail::simd {

// (e^r - 1) / r for |r| <= ln2 / 2: a degree-6 minimax polynomial of e^r (relative error
// 3e-9; 0.7 ulp evaluated in float), less its constant term.
template <class V>
[[gnu::always_inline]] inline V expm1_over_r(V r) {
  V p = V::set1(0.0013815761776641011f);
  p = fmadd(p, r, V::set1(0.00836875569075346f));
  p = fmadd(p, r, V::set1(0.0416683703660965f));
  p = fmadd(p, r, V::set1(0.1666651964187622f));
  p = fmadd(p, r, V::set1(0.4999999403953552f));
  return fmadd(p, r, V::set1(1.0f));
}

// e^r 2^n for |r| <= ln2 / 2.
template <class V>
[[gnu::always_inline]] inline V exp_reduced(V n, V r) {
  return ldexp(fmadd(expm1_over_r(r), r, V::set1(1.0f)), n);
}

// ln2 in two parts: n * kLn2Hi is exact for |n| < 2^15.
constexpr float kLn2Hi = 0.693359375f;
constexpr float kLn2Lo = -2.12194440e-4f;
constexpr float kLog2e = 1.44269504088896341f;

template <class V>
[[gnu::always_inline]] inline V exp(V x) {
  x = max(V::set1(-104.0f), x);  // exp(-104) is 0 in float; max keeps a NaN (its second operand)
  x = min(V::set1(89.0f), x);    // exp(89) is inf in float
  const V n = round_nearest(x * V::set1(kLog2e));
  const V r = fnmadd(n, V::set1(kLn2Lo), fnmadd(n, V::set1(kLn2Hi), x));
  return exp_reduced(n, r);
}

// exp(lo - y) for y in [0, 150], where lo is below y's rounding error (the low half of a
// difference that a float cannot hold): lo joins the reduced argument, where it is not lost.
template <class V>
[[gnu::always_inline]] inline V exp_minus(V y, V lo) {
  const V n = round_nearest(y * V::set1(-kLog2e));
  const V r = lo - fmadd(n, V::set1(kLn2Lo), fmadd(n, V::set1(kLn2Hi), y));  // lo - y - n ln2
  return exp_reduced(n, r);
}

// sigmoid(x) = s and its slope s (1 - s), from e = exp(-|x|) and d = 1 / (1 + e): s is d or
// e d, 1 - s the other, so the slope e d^2 does not cancel where s rounds to 1.
template <class V>
struct Logistic {
  V s, slope;
};

template <class V>
[[gnu::always_inline]] inline Logistic<V> logistic(V x) {
  const V e = exp(bit_or(x, V::set1(-0.0f)));  // exp(-|x|): no overflow
  const V d = V::set1(1.0f) / (V::set1(1.0f) + e);
  const V ed = e * d;
  return {select(less(x, V::set1(0.0f)), ed, d), ed * d};
}

template <class V>
[[gnu::always_inline]] inline V sigmoid(V x) {
  return logistic(x).s;
}

// tanh(|x|) = -m / (2 + m), m = expm1(-2|x|) = 2^n (e^r - 1) + (2^n - 1): the polynomial
// of e^r - 1 keeps small |x| accurate in relative terms: no branch for small |x|.
template <class V>
[[gnu::always_inline]] inline V tanh(V x) {
  const V a = min(V::set1(10.0f), abs(x));  // tanh(10) is 1 in float; min keeps a NaN
  const V y = V::set1(-2.0f) * a;
  const V n = round_nearest(y * V::set1(kLog2e));
  const V r = fnmadd(n, V::set1(kLn2Lo), fnmadd(n, V::set1(kLn2Hi), y));
  const V scale = ldexp(V::set1(1.0f), n);
  const V m = fmadd(scale, expm1_over_r(r) * r, scale - V::set1(1.0f));
  return bit_or(abs(m / (V::set1(2.0f) + m)), sign_bit(x));
}

constexpr float kInvSqrt2Pi = 0.39894228040143267794f;
constexpr float kSqrt2OverPi = 0.79788456080286535588f;
constexpr float kGeluTanhCoeff = 0.044715f;

// The normal distribution's tail Phi(-a) = scale * w, a = |x|, and w = exp(-a^2 / 2): w
// is multiplied in last, so that a product that falls into the subnormals rounds once.
template <class V>
struct NormalTail {
  V scale, w;
};

// Past a = 16 the tail is 0 in float: the clamp keeps a^2 finite. The polynomial is F / 2.
template <class V>
[[gnu::always_inline]] inline NormalTail<V> normal_tail(V x) {
  const V a = min(V::set1(16.0f), abs(x));
  const V t = V::set1(1.0f) / fmadd(a, V::set1(0.35355339059327376f), V::set1(1.0f));
  V f = V::set1(-0.029577601701021194f);
  f = fmadd(f, t, V::set1(0.14250196516513824f));
  f = fmadd(f, t, V::set1(-0.24405333399772644f));
  f = fmadd(f, t, V::set1(0.13956379890441895f));
  f = fmadd(f, t, V::set1(-0.013686678372323513f));
  f = fmadd(f, t, V::set1(0.10150551050901413f));
  f = fmadd(f, t, V::set1(0.12150987237691879f));
  f = fmadd(f, t, V::set1(0.14119358360767365f));
  f = fmadd(f, t, V::set1(0.14104285836219788f));
  // a^2 / 2 = sq - err exactly (a / 2 is exact).
  const V half = V::set1(0.5f) * a;
  const V sq = half * a;
  const V err = fnmadd(half, a, sq);
  return {t * f, exp_minus(sq, err)};
}

// x Phi(x): x * tail below zero, x - x * tail above (x clamped in the product, so that
// inf * 0 does not make a NaN of gelu(inf) = inf).
template <class V>
[[gnu::always_inline]] inline V gelu(V x) {
  const NormalTail<V> n = normal_tail(x);
  const V x_tail = (min(x, V::set1(16.0f)) * n.scale) * n.w;
  return select(less(x, V::set1(0.0f)), x_tail, x - x_tail);
}

// d/dx x Phi(x) = Phi(x) + x phi(x), phi(x) = w / sqrt(2 pi).
template <class V>
[[gnu::always_inline]] inline V gelu_derivative(V x) {
  const NormalTail<V> n = normal_tail(x);
  const V x_pdf = V::set1(kInvSqrt2Pi) * x;
  const V below = (n.scale + x_pdf) * n.w;
  return select(less(x, V::set1(0.0f)), below, fmadd(x_pdf - n.scale, n.w, V::set1(1.0f)));
}

template <class V>
[[gnu::always_inline]] inline V activate(Activation act, V x) {
  switch (act) {
    case Activation::none: return x;
    case Activation::relu: return max(V::set1(0.0f), x) + V::set1(0.0f);  // NaN stays, -0 -> 0
    case Activation::sigmoid: return sigmoid(x);
    case Activation::tanh: return tanh(x);
    case Activation::gelu: return gelu(x);
    case Activation::gelu_tanh: {
      const V inner = V::set1(kSqrt2OverPi) * fmadd(V::set1(kGeluTanhCoeff) * x, x * x, x);
      return x * sigmoid(inner + inner);
    }
  }
  return x;
}

// dy * act'(x), from x (relu, gelu) or y (sigmoid, tanh), as activation_math.hpp.
template <class V>
[[gnu::always_inline]] inline V activation_grad(Activation act, V x, V y, V dy) {
  const V one = V::set1(1.0f);
  switch (act) {
    case Activation::none: return dy;
    case Activation::relu: return select(less_equal(x, V::set1(0.0f)), V::set1(0.0f), dy);
    case Activation::sigmoid: return dy * (y * (one - y));
    case Activation::tanh: return dy * fnmadd(y, y, one);
    case Activation::gelu: return dy * gelu_derivative(x);
    case Activation::gelu_tanh: {
      const V x2 = x * x;
      const V inner = V::set1(kSqrt2OverPi) * fmadd(V::set1(kGeluTanhCoeff) * x2, x, x);
      const Logistic<V> s = logistic(inner + inner);
      const V d_inner = V::set1(kSqrt2OverPi) * fmadd(V::set1(3.0f * kGeluTanhCoeff), x2, one);
      return dy * fmadd((x + x) * s.slope, d_inner, s.s);
    }
  }
  return dy;
}

// Writes out[i] = f(i) (a vector of lanes i..) for i in [0, n): whole vectors, then once
// masked over the tail; with kStream, plain stores up to out's first aligned vector, then
// streaming ones (around the caches, and without reading each line first).
template <class V, bool kStream, class F>
[[gnu::always_inline]] inline void store_all(index_t n, float* out, F&& f) {
  index_t i = 0;
  if (kStream) {
    const auto misaligned = reinterpret_cast<std::uintptr_t>(out) % (sizeof(float) * V::kLanes);
    const index_t head = misaligned ? std::min<index_t>(n, V::kLanes - misaligned / sizeof(float)) : 0;
    if (head > 0) V::store_partial(out, f(index_t{0}, head), head);
    for (i = head; i + V::kLanes <= n; i += V::kLanes) V::stream(out + i, f(i, index_t{V::kLanes}));
    V::stream_fence();
  } else {
    for (; i + V::kLanes <= n; i += V::kLanes) V::store(out + i, f(i, index_t{V::kLanes}));
  }
  if (i < n) V::store_partial(out + i, f(i, n - i), n - i);
}

// Loads `count` (1..kLanes) lanes from p: a whole vector, or the masked tail.
template <class V>
[[gnu::always_inline]] inline V load_lanes(const float* p, index_t count) {
  return count == V::kLanes ? V::load(p) : V::load_partial(p, count);
}

template <class V, int kAct, bool kStream>
void forward_loop(index_t n, const float* x, float* y) {
  constexpr Activation act = static_cast<Activation>(kAct);
  store_all<V, kStream>(n, y, [&](index_t i, index_t count) {
    return activate(act, load_lanes<V>(x + i, count));
  });
}

// Only the operand the derivative reads is loaded (the other may be null); it is
// passed as both x and y.
template <class V, int kAct, bool kStream>
void backward_loop(index_t n, const float* x, const float* y, const float* dy, float* dx) {
  constexpr Activation act = static_cast<Activation>(kAct);
  constexpr bool kReadsX = act == Activation::relu || act == Activation::gelu ||
                           act == Activation::gelu_tanh;
  const float* saved = kReadsX ? x : y;
  store_all<V, kStream>(n, dx, [&](index_t i, index_t count) {
    const V s = act == Activation::none ? V::set1(0.0f) : load_lanes<V>(saved + i, count);
    return activation_grad(act, s, s, load_lanes<V>(dy + i, count));
  });
}

template <class V, bool kStream>
void activation_forward(Activation act, index_t n, const float* x, float* y) {
  switch (act) {
    case Activation::none: forward_loop<V, 0, kStream>(n, x, y); break;
    case Activation::relu: forward_loop<V, 1, kStream>(n, x, y); break;
    case Activation::sigmoid: forward_loop<V, 2, kStream>(n, x, y); break;
    case Activation::tanh: forward_loop<V, 3, kStream>(n, x, y); break;
    case Activation::gelu: forward_loop<V, 4, kStream>(n, x, y); break;
    case Activation::gelu_tanh: forward_loop<V, 5, kStream>(n, x, y); break;
  }
}

template <class V, bool kStream>
void activation_backward(Activation act, index_t n, const float* x, const float* y,
                         const float* dy, float* dx) {
  switch (act) {
    case Activation::none: backward_loop<V, 0, kStream>(n, x, y, dy, dx); break;
    case Activation::relu: backward_loop<V, 1, kStream>(n, x, y, dy, dx); break;
    case Activation::sigmoid: backward_loop<V, 2, kStream>(n, x, y, dy, dx); break;
    case Activation::tanh: backward_loop<V, 3, kStream>(n, x, y, dy, dx); break;
    case Activation::gelu: backward_loop<V, 4, kStream>(n, x, y, dy, dx); break;
    case Activation::gelu_tanh: backward_loop<V, 5, kStream>(n, x, y, dy, dx); break;
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
  return {&activation_forward<V, false>, &activation_backward<V, false>,
          &activation_forward<V, true>,  &activation_backward<V, true>,
          &row_max<V>, &exp_shifted_sum<V>, &scale_shift<V>};
}

}  // namespace kiln::detail::simd
