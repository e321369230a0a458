// Internal: 16 floats in a zmm register, the same interface as simd/vec_avx2.hpp.
// Include only from files compiled with -mavx512f.
#pragma once

#include <immintrin.h>

#include "kiln/common.hpp"

namespace kiln::detail::avx512 {

struct Vec {
  __m512 v;
  static constexpr int kLanes = 16;
  using Mask = __mmask16;

  static Vec set1(float x) { return {_mm512_set1_ps(x)}; }
  static Vec load(const float* p) { return {_mm512_loadu_ps(p)}; }
  static void store(float* p, Vec a) { _mm512_storeu_ps(p, a.v); }
  static __mmask16 tail_mask(index_t count) {
    return static_cast<__mmask16>((1u << static_cast<unsigned>(count)) - 1u);
  }
  static Mask lanes_below(index_t count) { return tail_mask(count); }
  static Vec load_partial(const float* p, index_t count) {
    return {_mm512_maskz_loadu_ps(tail_mask(count), p)};
  }
  static void store_partial(float* p, Vec a, index_t count) {
    _mm512_mask_storeu_ps(p, tail_mask(count), a.v);
  }
  // A streaming (non-temporal) store to a 64-byte aligned p; stream_fence() orders them.
  static void stream(float* p, Vec a) { _mm512_stream_ps(p, a.v); }
  static void stream_fence() { _mm_sfence(); }
};

inline Vec operator+(Vec a, Vec b) { return {_mm512_add_ps(a.v, b.v)}; }
inline Vec operator-(Vec a, Vec b) { return {_mm512_sub_ps(a.v, b.v)}; }
inline Vec operator*(Vec a, Vec b) { return {_mm512_mul_ps(a.v, b.v)}; }
inline Vec operator/(Vec a, Vec b) { return {_mm512_div_ps(a.v, b.v)}; }
inline Vec fmadd(Vec a, Vec b, Vec c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
inline Vec fnmadd(Vec a, Vec b, Vec c) { return {_mm512_fnmadd_ps(a.v, b.v, c.v)}; }
inline Vec max(Vec a, Vec b) { return {_mm512_max_ps(a.v, b.v)}; }
inline Vec min(Vec a, Vec b) { return {_mm512_min_ps(a.v, b.v)}; }
inline Vec bits(__m512i a) { return {_mm512_castsi512_ps(a)}; }
inline __m512i bits(Vec a) { return _mm512_castps_si512(a.v); }
inline Vec abs(Vec a) { return bits(_mm512_and_si512(bits(a), _mm512_set1_epi32(0x7fffffff))); }
inline Vec sign_bit(Vec a) { return bits(_mm512_and_si512(bits(a), _mm512_set1_epi32(INT32_MIN))); }
inline Vec bit_xor(Vec a, Vec b) { return bits(_mm512_xor_si512(bits(a), bits(b))); }
inline Vec bit_or(Vec a, Vec b) { return bits(_mm512_or_si512(bits(a), bits(b))); }
inline Vec sqrt(Vec a) { return {_mm512_sqrt_ps(a.v)}; }
inline Vec::Mask is_nan(Vec a) { return _mm512_cmp_ps_mask(a.v, a.v, _CMP_UNORD_Q); }
inline Vec::Mask greater(Vec a, Vec b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_GT_OQ); }
inline Vec::Mask less(Vec a, Vec b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ); }
inline Vec::Mask less_equal(Vec a, Vec b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_LE_OQ); }
inline Vec select(Vec::Mask m, Vec a, Vec b) { return {_mm512_mask_blend_ps(m, b.v, a.v)}; }
inline Vec round_nearest(Vec a) {
  return {_mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
}
inline Vec pow2_int(Vec n) {
  const __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n.v), _mm512_set1_epi32(127));
  return bits(_mm512_slli_epi32(e, 23));
}
// a * 2^n for integral n, rounded once: into the subnormals and to inf as a product would.
inline Vec ldexp(Vec a, Vec n) { return {_mm512_scalef_ps(a.v, n.v)}; }
inline float reduce_add(Vec a) { return _mm512_reduce_add_ps(a.v); }
inline float reduce_max(Vec a) { return _mm512_reduce_max_ps(a.v); }

}  // namespace kiln::detail::avx512
