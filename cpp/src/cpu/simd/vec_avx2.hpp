// Internal: 8 floats in a ymm register, with the operations the pointwise kernels
// (simd/pointwise_impl.hpp) need. Include only from files compiled with -mavx2 -mfma.
#pragma once

#include <immintrin.h>

#include "kiln/common.hpp"

namespace kiln::detail::avx2 {

struct Vec {
  __m256 v;
  static constexpr int kLanes = 8;
  using Mask = __m256;

  static Vec set1(float x) { return {_mm256_set1_ps(x)}; }
  static Vec load(const float* p) { return {_mm256_loadu_ps(p)}; }
  static void store(float* p, Vec a) { _mm256_storeu_ps(p, a.v); }
  // The first `count` (1..kLanes) lanes; the others load as 0 and are not stored.
  static __m256i tail_mask(index_t count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static Mask lanes_below(index_t count) { return _mm256_castsi256_ps(tail_mask(count)); }
  static Vec load_partial(const float* p, index_t count) {
    return {_mm256_maskload_ps(p, tail_mask(count))};
  }
  static void store_partial(float* p, Vec a, index_t count) {
    _mm256_maskstore_ps(p, tail_mask(count), a.v);
  }
  // A streaming (non-temporal) store to a 32-byte aligned p; stream_fence() orders them.
  static void stream(float* p, Vec a) { _mm256_stream_ps(p, a.v); }
  static void stream_fence() { _mm_sfence(); }
};

inline Vec operator+(Vec a, Vec b) { return {_mm256_add_ps(a.v, b.v)}; }
inline Vec operator-(Vec a, Vec b) { return {_mm256_sub_ps(a.v, b.v)}; }
inline Vec operator*(Vec a, Vec b) { return {_mm256_mul_ps(a.v, b.v)}; }
inline Vec operator/(Vec a, Vec b) { return {_mm256_div_ps(a.v, b.v)}; }
inline Vec fmadd(Vec a, Vec b, Vec c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }  // a*b + c
inline Vec fnmadd(Vec a, Vec b, Vec c) { return {_mm256_fnmadd_ps(a.v, b.v, c.v)}; }  // c - a*b
// max/min return b when either is NaN (x86 semantics).
inline Vec max(Vec a, Vec b) { return {_mm256_max_ps(a.v, b.v)}; }
inline Vec min(Vec a, Vec b) { return {_mm256_min_ps(a.v, b.v)}; }
inline Vec abs(Vec a) { return {_mm256_andnot_ps(_mm256_set1_ps(-0.0f), a.v)}; }
inline Vec sign_bit(Vec a) { return {_mm256_and_ps(_mm256_set1_ps(-0.0f), a.v)}; }
inline Vec bit_xor(Vec a, Vec b) { return {_mm256_xor_ps(a.v, b.v)}; }
inline Vec bit_or(Vec a, Vec b) { return {_mm256_or_ps(a.v, b.v)}; }
inline Vec sqrt(Vec a) { return {_mm256_sqrt_ps(a.v)}; }
inline Vec::Mask is_nan(Vec a) { return _mm256_cmp_ps(a.v, a.v, _CMP_UNORD_Q); }
inline Vec::Mask greater(Vec a, Vec b) { return _mm256_cmp_ps(a.v, b.v, _CMP_GT_OQ); }
inline Vec::Mask less(Vec a, Vec b) { return _mm256_cmp_ps(a.v, b.v, _CMP_LT_OQ); }
inline Vec::Mask less_equal(Vec a, Vec b) { return _mm256_cmp_ps(a.v, b.v, _CMP_LE_OQ); }
inline Vec select(Vec::Mask m, Vec a, Vec b) { return {_mm256_blendv_ps(b.v, a.v, m)}; }  // m ? a : b
inline Vec round_nearest(Vec a) {
  return {_mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
}
// 2^n for integral n in [-126, 127], built in the exponent field.
inline Vec pow2_int(Vec n) {
  const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n.v), _mm256_set1_epi32(127));
  return {_mm256_castsi256_ps(_mm256_slli_epi32(e, 23))};
}
// a * 2^n for integral n in [-252, 254], as two factors 2^(n/2) that are normal numbers
// (one factor would leave its exponent field below -126): the product rounds once into
// the subnormals, and to inf as a product would.
inline Vec ldexp(Vec a, Vec n) {
  const __m256i k = _mm256_cvtps_epi32(n.v);
  const __m256i half = _mm256_srai_epi32(k, 1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 f1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, bias), 23));
  const __m256 f2 = _mm256_castsi256_ps(
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(k, half), bias), 23));
  return {_mm256_mul_ps(_mm256_mul_ps(a.v, f1), f2)};
}
inline float reduce_add(Vec a) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}
inline float reduce_max(Vec a) {
  const __m128 s = _mm_max_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  const __m128 t = _mm_max_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_max_ss(t, _mm_movehdup_ps(t)));
}

}  // namespace kiln::detail::avx2
