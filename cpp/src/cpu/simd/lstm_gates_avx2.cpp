// AVX2+FMA LSTM gate passes: lstm_gates_math.hpp over 8 floats in a ymm register.
//
// Compiled with -mavx2 -mfma (CMakeLists.txt) and called only when CPUID reports both
// (dispatch.cpp). A row's last n < 8 units use masked loads and stores, so every unit
// runs the same vector arithmetic wherever a span starts or ends.
#include <immintrin.h>

#include "../lstm_gates.hpp"
#include "../lstm_gates_math.hpp"

namespace kiln::detail {
namespace {

struct Avx2 {
  using T = __m256;
  static constexpr int width = 8;
  static __m256i mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static T load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, T v) { _mm256_storeu_ps(p, v); }
  static T load_partial(const float* p, int n) { return _mm256_maskload_ps(p, mask(n)); }
  static void store_partial(float* p, T v, int n) { _mm256_maskstore_ps(p, mask(n), v); }
  static T set1(float v) { return _mm256_set1_ps(v); }
  static T add(T a, T b) { return _mm256_add_ps(a, b); }
  static T sub(T a, T b) { return _mm256_sub_ps(a, b); }
  static T mul(T a, T b) { return _mm256_mul_ps(a, b); }
  static T div(T a, T b) { return _mm256_div_ps(a, b); }
  static T fmadd(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static T min(T a, T b) { return _mm256_min_ps(a, b); }
  static T max(T a, T b) { return _mm256_max_ps(a, b); }
  static T abs(T a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static T with_sign_of(T magnitude, T x) {
    return _mm256_or_ps(magnitude, _mm256_and_ps(_mm256_set1_ps(-0.0f), x));
  }
  static T round(T a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static T exp2i(T n) {
    const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
  }
};

}  // namespace

void lstm_gates_forward_avx2(index_t n, index_t H, const LstmForwardSpan& span) {
  gate_math::forward<Avx2>(n, H, span);
}

void lstm_gates_backward_avx2(index_t n, index_t H, const LstmBackwardSpan& span) {
  gate_math::backward<Avx2>(n, H, span);
}

}  // namespace kiln::detail
