// Internal: the LSTM gate passes written once over a vector type V, so the portable
// (V of one float), AVX2 and AVX-512 versions run the same arithmetic.
//
// V provides: width; load/store (and load_partial/store_partial of n < width floats);
// set1, add, sub, mul, div, fmadd(a, b, c) = a * b + c; min/max that return their
// SECOND operand when either is NaN (as MINPS/MAXPS do), so NaN propagates through
// the clamps below; abs, with_sign_of(magnitude, x); round (to nearest integer, as a
// float) and exp2i(n) = 2^n for an integral float n in [-126, 127].
//
// The spans (lstm_gates.hpp) say which part of a batch row a call covers.
//
// Everything here sits in an unnamed namespace on purpose: each file that includes it
// (compiled with its own -m flags) gets its own internal copy, so no inline function
// compiled for AVX-512 can be picked by the linker for the portable path.
#pragma once

#include "lstm_gates.hpp"

namespace kiln::detail {
namespace {
namespace gate_math {

// The vector types' free functions, reached by argument-dependent lookup from outside
// VecOps (whose members of the same names would hide them).
template <class Vec> Vec vec_fmadd(Vec a, Vec b, Vec c) { return fmadd(a, b, c); }
template <class Vec> Vec vec_min(Vec a, Vec b) { return min(a, b); }
template <class Vec> Vec vec_max(Vec a, Vec b) { return max(a, b); }
template <class Vec> Vec vec_abs(Vec a) { return abs(a); }

// V over one of the SIMD vector types (simd/vec_avx2.hpp, simd/vec_avx512.hpp), whose
// max/min already return their second operand on NaN.
template <class Vec>
struct VecOps {
  using T = Vec;
  static constexpr int width = Vec::kLanes;
  static T load(const float* p) { return Vec::load(p); }
  static void store(float* p, T v) { Vec::store(p, v); }
  static T load_partial(const float* p, int n) { return Vec::load_partial(p, n); }
  static void store_partial(float* p, T v, int n) { Vec::store_partial(p, v, n); }
  static T set1(float v) { return Vec::set1(v); }
  static T add(T a, T b) { return a + b; }
  static T sub(T a, T b) { return a - b; }
  static T mul(T a, T b) { return a * b; }
  static T div(T a, T b) { return a / b; }
  static T fmadd(T a, T b, T c) { return vec_fmadd(a, b, c); }
  static T min(T a, T b) { return vec_min(a, b); }
  static T max(T a, T b) { return vec_max(a, b); }
  static T abs(T a) { return vec_abs(a); }
  static T with_sign_of(T magnitude, T x) { return bit_or(magnitude, sign_bit(x)); }
  static T round(T a) { return round_nearest(a); }
  static T exp2i(T n) { return pow2_int(n); }
};

// e^r - 1 for |r| <= ln2 / 2: Taylor to r^7 (the next term is below 2^-26 relative).
template <class V>
inline typename V::T expm1_reduced(typename V::T r) {
  using T = typename V::T;
  T p = V::set1(1.0f / 5040.0f);
  p = V::fmadd(p, r, V::set1(1.0f / 720.0f));
  p = V::fmadd(p, r, V::set1(1.0f / 120.0f));
  p = V::fmadd(p, r, V::set1(1.0f / 24.0f));
  p = V::fmadd(p, r, V::set1(1.0f / 6.0f));
  p = V::fmadd(p, r, V::set1(0.5f));
  return V::fmadd(V::mul(p, r), r, r);
}

// y = n ln2 + r with n integral and |r| <= ln2 / 2 (Cody-Waite: n * ln2_hi is exact),
// for y already clamped to [-87, 88] so that 2^n stays a normal float.
template <class V>
inline void reduce(typename V::T y, typename V::T& two_n, typename V::T& r) {
  const typename V::T n = V::round(V::mul(y, V::set1(1.44269504088896341f)));
  r = V::fmadd(n, V::set1(-0.693359375f), y);
  r = V::fmadd(n, V::set1(2.12194440e-4f), r);
  two_n = V::exp2i(n);
}

// 1 / (1 + e^-x), a few ulp. -x is clamped to [-87, 88]: beyond it the result is 1, or
// below 1e-38 where the reference's is too (the clamps keep NaN).
template <class V>
inline typename V::T sigmoid(typename V::T x) {
  using T = typename V::T;
  const T y = V::min(V::set1(88.0f), V::max(V::set1(-87.0f), V::sub(V::set1(0.0f), x)));
  T two_n, r;
  reduce<V>(y, two_n, r);
  const T e = V::fmadd(two_n, expm1_reduced<V>(r), two_n);  // e^-x
  return V::div(V::set1(1.0f), V::add(V::set1(1.0f), e));
}

// tanh(|x|) = -m / (2 + m) with m = expm1(-2|x|), sign restored: expm1 (not exp - 1)
// keeps full relative precision near 0, where tanh(x) ~ x.
template <class V>
inline typename V::T tanh(typename V::T x) {
  using T = typename V::T;
  const T y = V::max(V::set1(-87.0f), V::mul(V::set1(-2.0f), V::abs(x)));
  T two_n, r;
  reduce<V>(y, two_n, r);
  const T m = V::fmadd(two_n, expm1_reduced<V>(r), V::sub(two_n, V::set1(1.0f)));
  return V::with_sign_of(V::div(V::sub(V::set1(0.0f), m), V::add(V::set1(2.0f), m)), x);
}

// n lanes from p: a full vector, or the first n (masked) at a row's end.
template <class V>
inline typename V::T load_n(const float* p, int n) {
  return n == V::width ? V::load(p) : V::load_partial(p, n);
}

template <class V>
inline void store_n(float* p, typename V::T v, int n) {
  if (n == V::width) {
    V::store(p, v);
  } else {
    V::store_partial(p, v, n);
  }
}

// pre + addend -> activated i, f, g, o (into gates, when kept); c_out = f c_prev + i g;
// h_out = o tanh(c_out). c_out may be c_prev and gates addend (loads precede stores).
template <class V>
inline void forward_vector(const LstmForwardSpan& s, index_t j, int n) {
  using T = typename V::T;
  auto load = [n](const float* p) { return load_n<V>(p, n); };
  auto store = [n](float* p, T v) { store_n<V>(p, v, n); };
  auto pre = [&](int chunk) {
    const T v = load(s.pre + chunk * s.pre_chunk + j);
    return s.addend ? V::add(v, load(s.addend + chunk * s.addend_chunk + j)) : v;
  };
  const T i = sigmoid<V>(pre(0));
  const T f = sigmoid<V>(pre(1));
  const T g = tanh<V>(pre(2));
  const T o = sigmoid<V>(pre(3));
  const T c = V::fmadd(f, load(s.c_prev + j), V::mul(i, g));
  if (s.gates) {
    float* gi = s.gates + j;
    store(gi, i);
    store(gi + s.gates_chunk, f);
    store(gi + 2 * s.gates_chunk, g);
    store(gi + 3 * s.gates_chunk, o);
  }
  store(s.c_out + j, c);
  store(s.h_out + j, V::mul(o, tanh<V>(c)));
}

template <class V>
inline void forward(index_t n, const LstmForwardSpan& s) {
  index_t j = 0;
  for (; j + V::width <= n; j += V::width) forward_vector<V>(s, j, V::width);
  if (j < n) forward_vector<V>(s, j, static_cast<int>(n - j));
}

// dc = dc_next + dh o (1 - tanh(c_new)^2); d_pre = (dc g i(1-i), dc c_prev f(1-f),
// dc i (1-g^2), dh tanh(c_new) o(1-o)); dc_prev = dc f. dc_prev may be dc_next.
template <class V>
inline void backward_vector(const LstmBackwardSpan& s, index_t H, index_t j, int n) {
  using T = typename V::T;
  auto load = [n](const float* p) { return load_n<V>(p, n); };
  auto store = [n](float* p, T v) { store_n<V>(p, v, n); };
  const T one = V::set1(1.0f);
  const float* gi = s.gates + j;
  const T i = load(gi), f = load(gi + H), g = load(gi + 2 * H), o = load(gi + 3 * H);
  const T tanh_c = tanh<V>(load(s.c_new + j));
  const T dh = V::add(load(s.dh_a + j), load(s.dh_b + j));
  const T dh_o = V::mul(dh, o);
  const T dc = V::fmadd(dh_o, V::sub(one, V::mul(tanh_c, tanh_c)), load(s.dc_next + j));
  float* di = s.d_pre + j;
  store(di, V::mul(V::mul(dc, g), V::mul(i, V::sub(one, i))));
  store(di + H, V::mul(V::mul(dc, load(s.c_prev + j)), V::mul(f, V::sub(one, f))));
  store(di + 2 * H, V::mul(V::mul(dc, i), V::sub(one, V::mul(g, g))));
  store(di + 3 * H, V::mul(V::mul(dh_o, tanh_c), V::sub(one, o)));
  store(s.dc_prev + j, V::mul(dc, f));
}

template <class V>
inline void backward(index_t n, index_t H, const LstmBackwardSpan& s) {
  index_t j = 0;
  for (; j + V::width <= n; j += V::width) backward_vector<V>(s, H, j, V::width);
  if (j < n) backward_vector<V>(s, H, j, static_cast<int>(n - j));
}

}  // namespace gate_math
}  // namespace
}  // namespace kiln::detail
