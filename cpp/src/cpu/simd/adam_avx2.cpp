// AVX2+FMA Adam update: 8 floats per step, the tail through masked loads and
// stores, so every element takes the same arithmetic whatever n is.
//
// Compiled with -mavx2 -mfma (CMakeLists.txt), called only when CPUID reports both
// (dispatch.cpp). Memory-bound above cache sizes: the arithmetic (one sqrt and two
// divides per element) hides behind the 28 bytes each element moves.
#include <immintrin.h>

#include "../adam_kernel.hpp"

namespace kiln::detail {
namespace {

constexpr int kWidth = 8;

struct Vectors {
  __m256 sign_bit, weight_decay, decay_factor, beta1, one_minus_beta1, beta2, one_minus_beta2,
      step_size, bias_correction2_sqrt, eps;
};

// torch.maximum: NaN in either argument wins. max_ps returns its second operand when
// either is NaN, so only a NaN first operand needs the blend.
inline __m256 max_nan(__m256 a, __m256 b) {
  return _mm256_blendv_ps(_mm256_max_ps(a, b), a, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
}

template <AdamDecay kDecay, bool kAmsgrad, bool kMasked>
inline void update(const Vectors& c, __m256i mask, float* param, const float* grad,
                   float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq) {
  auto load = [&](const float* x) {
    return kMasked ? _mm256_maskload_ps(x, mask) : _mm256_loadu_ps(x);
  };
  auto store = [&](float* x, __m256 v) {
    if (kMasked)
      _mm256_maskstore_ps(x, mask, v);
    else
      _mm256_storeu_ps(x, v);
  };
  __m256 p = load(param);
  __m256 g = _mm256_xor_ps(load(grad), c.sign_bit);
  if constexpr (kDecay == AdamDecay::coupled) g = _mm256_fmadd_ps(c.weight_decay, p, g);
  if constexpr (kDecay == AdamDecay::decoupled) p = _mm256_mul_ps(p, c.decay_factor);
  const __m256 m = _mm256_fmadd_ps(c.beta1, load(exp_avg), _mm256_mul_ps(c.one_minus_beta1, g));
  const __m256 v = _mm256_fmadd_ps(c.beta2, load(exp_avg_sq),
                                   _mm256_mul_ps(c.one_minus_beta2, _mm256_mul_ps(g, g)));
  store(exp_avg, m);
  store(exp_avg_sq, v);
  __m256 v_used = v;
  if constexpr (kAmsgrad) {
    v_used = max_nan(load(max_exp_avg_sq), v);
    store(max_exp_avg_sq, v_used);
  }
  const __m256 denom =
      _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(v_used), c.bias_correction2_sqrt), c.eps);
  store(param, _mm256_fnmadd_ps(c.step_size, _mm256_div_ps(m, denom), p));
}

template <AdamDecay kDecay, bool kAmsgrad>
void adam_range(const AdamScalars& s, index_t n, float* __restrict param,
                const float* __restrict grad, float* __restrict exp_avg,
                float* __restrict exp_avg_sq, float* __restrict max_exp_avg_sq) {
  const Vectors c{_mm256_set1_ps(s.maximize ? -0.0f : 0.0f), _mm256_set1_ps(s.weight_decay),
                  _mm256_set1_ps(s.decay_factor),         _mm256_set1_ps(s.beta1),
                  _mm256_set1_ps(s.one_minus_beta1),      _mm256_set1_ps(s.beta2),
                  _mm256_set1_ps(s.one_minus_beta2),      _mm256_set1_ps(s.step_size),
                  _mm256_set1_ps(s.bias_correction2_sqrt), _mm256_set1_ps(s.eps)};
  const __m256i all = _mm256_set1_epi32(-1);
  index_t i = 0;
  for (; i + kWidth <= n; i += kWidth)
    update<kDecay, kAmsgrad, false>(c, all, param + i, grad + i, exp_avg + i, exp_avg_sq + i,
                                    kAmsgrad ? max_exp_avg_sq + i : nullptr);
  if (i < n) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n - i)), lane);
    update<kDecay, kAmsgrad, true>(c, mask, param + i, grad + i, exp_avg + i, exp_avg_sq + i,
                                   kAmsgrad ? max_exp_avg_sq + i : nullptr);
  }
}

}  // namespace

void adam_range_avx2(const AdamScalars& s, index_t n, float* param, const float* grad,
                     float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq) {
  with_adam_flags(s, [&](auto decay, auto amsgrad) {
    adam_range<decltype(decay)::value, decltype(amsgrad)::value>(s, n, param, grad, exp_avg,
                                                                  exp_avg_sq, max_exp_avg_sq);
  });
}

}  // namespace kiln::detail
