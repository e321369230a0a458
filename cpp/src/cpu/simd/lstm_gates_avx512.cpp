// AVX-512 LSTM gate passes: lstm_gates_math.hpp over 16 floats in a zmm register.
//
// Compiled with -mavx512f (CMakeLists.txt) and called only when CPUID reports AVX-512
// (dispatch.cpp). A row's last n < 16 units use masked loads and stores, so every unit
// runs the same vector arithmetic wherever a span starts or ends.
#include <immintrin.h>

// GCC 12's AVX-512 headers start several intrinsics from _mm512_undefined_ps(), which
// -Wmaybe-uninitialized reports once they are inlined here (a false positive).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "../lstm_gates.hpp"
#include "../lstm_gates_math.hpp"

namespace kiln::detail {
namespace {

struct Avx512 {
  using T = __m512;
  static constexpr int width = 16;
  static __mmask16 mask(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
  static T load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, T v) { _mm512_storeu_ps(p, v); }
  static T load_partial(const float* p, int n) { return _mm512_maskz_loadu_ps(mask(n), p); }
  static void store_partial(float* p, T v, int n) { _mm512_mask_storeu_ps(p, mask(n), v); }
  static T set1(float v) { return _mm512_set1_ps(v); }
  static T add(T a, T b) { return _mm512_add_ps(a, b); }
  static T sub(T a, T b) { return _mm512_sub_ps(a, b); }
  static T mul(T a, T b) { return _mm512_mul_ps(a, b); }
  static T div(T a, T b) { return _mm512_div_ps(a, b); }
  static T fmadd(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static T min(T a, T b) { return _mm512_min_ps(a, b); }
  static T max(T a, T b) { return _mm512_max_ps(a, b); }
  static T abs(T a) { return _mm512_abs_ps(a); }
  static T with_sign_of(T magnitude, T x) {
    const __m512i sign = _mm512_and_si512(_mm512_castps_si512(x), _mm512_castps_si512(_mm512_set1_ps(-0.0f)));
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(magnitude), sign));
  }
  static T round(T a) {
    return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  static T exp2i(T n) {
    const __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
  }
};

}  // namespace

void lstm_gates_forward_avx512(index_t n, index_t H, const LstmForwardSpan& span) {
  gate_math::forward<Avx512>(n, H, span);
}

void lstm_gates_backward_avx512(index_t n, index_t H, const LstmBackwardSpan& span) {
  gate_math::backward<Avx512>(n, H, span);
}

}  // namespace kiln::detail
