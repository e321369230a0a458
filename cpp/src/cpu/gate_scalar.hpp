// Internal: the gate passes' "vector" of one float (the V of lstm_gates_math.hpp), for CPUs
// without AVX2 and for KILN_CPU=portable; shared by the LSTM's and the GRU's portable passes.
// In an unnamed namespace, as the math headers it feeds.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace kiln::detail {
namespace {

struct Scalar {
  using T = float;
  static constexpr int width = 1;
  static T load(const float* p) { return *p; }
  static void store(float* p, T v) { *p = v; }
  static T load_partial(const float* p, int) { return *p; }
  static void store_partial(float* p, T v, int) { *p = v; }
  static T set1(float v) { return v; }
  static T add(T a, T b) { return a + b; }
  static T sub(T a, T b) { return a - b; }
  static T mul(T a, T b) { return a * b; }
  static T div(T a, T b) { return a / b; }
  static T fmadd(T a, T b, T c) { return a * b + c; }
  static T min(T a, T b) { return a < b ? a : b; }  // b when either is NaN
  static T max(T a, T b) { return a > b ? a : b; }
  static T abs(T a) { return std::fabs(a); }
  static T with_sign_of(T magnitude, T x) { return std::copysign(magnitude, x); }
  // Adding and subtracting 1.5 * 2^23 rounds to nearest for |a| < 2^22 (here |a| < 128)
  // without a libm call (and NaN stays NaN).
  static T round(T a) { return (a + 12582912.0f) - 12582912.0f; }
  static T exp2i(T n) {
    // NaN reaches here only with a NaN r beside it, which makes the result NaN anyway.
    const std::int32_t e = n == n ? static_cast<std::int32_t>(n) + 127 : 127;
    const std::uint32_t bits = static_cast<std::uint32_t>(e) << 23;
    float out;
    std::memcpy(&out, &bits, sizeof out);
    return out;
  }
};

}  // namespace
}  // namespace kiln::detail
