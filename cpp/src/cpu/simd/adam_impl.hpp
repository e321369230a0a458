// Internal: the Adam update (../adam_kernel.hpp) written once over a vector type
// (simd/vec_avx2.hpp, simd/vec_avx512.hpp), instantiated in one file per ISA. Whole
// vectors, then the tail through masked loads and stores, so every element takes the
// same arithmetic whatever n is. Memory-bound above cache sizes: the arithmetic (one sqrt
// and two divides per element) hides behind the 28 bytes each element moves.
#pragma once

#include "../adam_kernel.hpp"

namespace kiln::detail::simd {

template <class Vec>
struct AdamVectors {
  explicit AdamVectors(const AdamScalars& s)
      : sign_bit(Vec::set1(s.maximize ? -0.0f : 0.0f)), weight_decay(Vec::set1(s.weight_decay)),
        decay_factor(Vec::set1(s.decay_factor)), beta1(Vec::set1(s.beta1)),
        one_minus_beta1(Vec::set1(s.one_minus_beta1)), beta2(Vec::set1(s.beta2)),
        one_minus_beta2(Vec::set1(s.one_minus_beta2)), step_size(Vec::set1(s.step_size)),
        bias_correction2_sqrt(Vec::set1(s.bias_correction2_sqrt)), eps(Vec::set1(s.eps)) {}
  Vec sign_bit, weight_decay, decay_factor, beta1, one_minus_beta1, beta2, one_minus_beta2,
      step_size, bias_correction2_sqrt, eps;
};

// torch.maximum: NaN in either argument wins. max() returns its second operand when
// either is NaN, so only a NaN first operand needs the select.
template <class Vec>
inline Vec max_nan(Vec a, Vec b) {
  return select(is_nan(a), a, max(a, b));
}

// One vector of parameters; load and store are whole or masked.
template <class Vec, AdamDecay kDecay, bool kAmsgrad, class Load, class Store>
inline void adam_update(const AdamVectors<Vec>& c, Load load, Store store, float* param,
                        const float* grad, float* exp_avg, float* exp_avg_sq,
                        float* max_exp_avg_sq) {
  Vec p = load(param);
  Vec g = bit_xor(load(grad), c.sign_bit);
  if constexpr (kDecay == AdamDecay::coupled) g = fmadd(c.weight_decay, p, g);
  if constexpr (kDecay == AdamDecay::decoupled) p = p * c.decay_factor;
  const Vec m = fmadd(c.beta1, load(exp_avg), c.one_minus_beta1 * g);
  const Vec v = fmadd(c.beta2, load(exp_avg_sq), c.one_minus_beta2 * (g * g));
  store(exp_avg, m);
  store(exp_avg_sq, v);
  Vec v_used = v;
  if constexpr (kAmsgrad) {
    v_used = max_nan(load(max_exp_avg_sq), v);
    store(max_exp_avg_sq, v_used);
  }
  const Vec denom = sqrt(v_used) / c.bias_correction2_sqrt + c.eps;
  store(param, fnmadd(c.step_size, m / denom, p));
}

template <class Vec, AdamDecay kDecay, bool kAmsgrad>
void adam_range(const AdamScalars& s, index_t n, float* __restrict param,
                const float* __restrict grad, float* __restrict exp_avg,
                float* __restrict exp_avg_sq, float* __restrict max_exp_avg_sq) {
  const AdamVectors<Vec> c(s);
  const auto load = [](const float* x) { return Vec::load(x); };
  const auto store = [](float* x, Vec v) { Vec::store(x, v); };
  index_t i = 0;
  for (; i + Vec::kLanes <= n; i += Vec::kLanes)
    adam_update<Vec, kDecay, kAmsgrad>(c, load, store, param + i, grad + i, exp_avg + i,
                                       exp_avg_sq + i, kAmsgrad ? max_exp_avg_sq + i : nullptr);
  if (i < n) {
    const index_t count = n - i;
    adam_update<Vec, kDecay, kAmsgrad>(
        c, [count](const float* x) { return Vec::load_partial(x, count); },
        [count](float* x, Vec v) { Vec::store_partial(x, v, count); }, param + i, grad + i,
        exp_avg + i, exp_avg_sq + i, kAmsgrad ? max_exp_avg_sq + i : nullptr);
  }
}

// adam_range for the flags in s (weight decay kind, amsgrad), chosen once per call.
template <class Vec>
void adam_range(const AdamScalars& s, index_t n, float* param, const float* grad, float* exp_avg,
                float* exp_avg_sq, float* max_exp_avg_sq) {
  with_adam_flags(s, [&](auto decay, auto amsgrad) {
    adam_range<Vec, decltype(decay)::value, decltype(amsgrad)::value>(
        s, n, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq);
  });
}

}  // namespace kiln::detail::simd
