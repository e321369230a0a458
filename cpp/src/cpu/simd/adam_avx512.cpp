// AVX-512 Adam update: 16 floats per step, the tail through masked loads and stores.
//
// Compiled with -mavx512f (CMakeLists.txt), called only when CPUID reports AVX-512
// (dispatch.cpp). Same operations, in the same order, as simd/adam_avx2.cpp.
#include <immintrin.h>

// GCC 12 warns inside its own intrinsics (_mm512_sqrt_ps, _mm512_max_ps), whose
// pass-through operand is _mm512_undefined_ps() by design.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "../adam_kernel.hpp"

namespace kiln::detail {
namespace {

constexpr int kWidth = 16;

struct Vectors {
  __m512 weight_decay, decay_factor, beta1, one_minus_beta1, beta2, one_minus_beta2, step_size,
      bias_correction2_sqrt, eps;
  __m512i sign_bit;
};

// torch.maximum: NaN in either argument wins (max_ps returns b when either is NaN).
inline __m512 max_nan(__m512 a, __m512 b) {
  return _mm512_mask_mov_ps(_mm512_max_ps(a, b), _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q), a);
}

template <AdamDecay kDecay, bool kAmsgrad>
inline void update(const Vectors& c, __mmask16 mask, float* param, const float* grad,
                   float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq) {
  auto load = [&](const float* x) { return _mm512_maskz_loadu_ps(mask, x); };
  auto store = [&](float* x, __m512 v) { _mm512_mask_storeu_ps(x, mask, v); };
  __m512 p = load(param);
  __m512 g = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(load(grad)), c.sign_bit));
  if constexpr (kDecay == AdamDecay::coupled) g = _mm512_fmadd_ps(c.weight_decay, p, g);
  if constexpr (kDecay == AdamDecay::decoupled) p = _mm512_mul_ps(p, c.decay_factor);
  const __m512 m = _mm512_fmadd_ps(c.beta1, load(exp_avg), _mm512_mul_ps(c.one_minus_beta1, g));
  const __m512 v = _mm512_fmadd_ps(c.beta2, load(exp_avg_sq),
                                   _mm512_mul_ps(c.one_minus_beta2, _mm512_mul_ps(g, g)));
  store(exp_avg, m);
  store(exp_avg_sq, v);
  __m512 v_used = v;
  if constexpr (kAmsgrad) {
    v_used = max_nan(load(max_exp_avg_sq), v);
    store(max_exp_avg_sq, v_used);
  }
  const __m512 denom =
      _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(v_used), c.bias_correction2_sqrt), c.eps);
  store(param, _mm512_fnmadd_ps(c.step_size, _mm512_div_ps(m, denom), p));
}

template <AdamDecay kDecay, bool kAmsgrad>
void adam_range(const AdamScalars& s, index_t n, float* __restrict param,
                const float* __restrict grad, float* __restrict exp_avg,
                float* __restrict exp_avg_sq, float* __restrict max_exp_avg_sq) {
  const Vectors c{_mm512_set1_ps(s.weight_decay),      _mm512_set1_ps(s.decay_factor),
                  _mm512_set1_ps(s.beta1),             _mm512_set1_ps(s.one_minus_beta1),
                  _mm512_set1_ps(s.beta2),             _mm512_set1_ps(s.one_minus_beta2),
                  _mm512_set1_ps(s.step_size),         _mm512_set1_ps(s.bias_correction2_sqrt),
                  _mm512_set1_ps(s.eps),               _mm512_set1_epi32(s.maximize ? INT32_MIN : 0)};
  index_t i = 0;
  for (; i + kWidth <= n; i += kWidth)
    update<kDecay, kAmsgrad>(c, 0xFFFF, param + i, grad + i, exp_avg + i, exp_avg_sq + i,
                             kAmsgrad ? max_exp_avg_sq + i : nullptr);
  if (i < n) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (n - i)) - 1u);
    update<kDecay, kAmsgrad>(c, mask, param + i, grad + i, exp_avg + i, exp_avg_sq + i,
                             kAmsgrad ? max_exp_avg_sq + i : nullptr);
  }
}

}  // namespace

void adam_range_avx512(const AdamScalars& s, index_t n, float* param, const float* grad,
                       float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq) {
  with_adam_flags(s, [&](auto decay, auto amsgrad) {
    adam_range<decltype(decay)::value, decltype(amsgrad)::value>(s, n, param, grad, exp_avg,
                                                                  exp_avg_sq, max_exp_avg_sq);
  });
}

}  // namespace kiln::detail
