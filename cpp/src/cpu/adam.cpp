#include "kiln/adam.hpp"

#include <cmath>

#include "adam_kernel.hpp"
#include "check.hpp"
#include "dispatch.hpp"
#include "parallel_range.hpp"

namespace kiln {
namespace detail {
namespace {

// torch.maximum: NaN in either argument wins.
inline float max_nan(float a, float b) { return (a != a || a > b) ? a : b; }

template <AdamDecay kDecay, bool kAmsgrad>
void adam_range(const AdamScalars& s, index_t n, float* __restrict param,
                const float* __restrict grad, float* __restrict exp_avg,
                float* __restrict exp_avg_sq, float* __restrict max_exp_avg_sq) {
  const float sign = s.maximize ? -1.0f : 1.0f;
  for (index_t i = 0; i < n; ++i) {
    float p = param[i];
    float g = sign * grad[i];
    if constexpr (kDecay == AdamDecay::coupled) g += s.weight_decay * p;
    if constexpr (kDecay == AdamDecay::decoupled) p *= s.decay_factor;
    const float m = s.beta1 * exp_avg[i] + s.one_minus_beta1 * g;
    const float v = s.beta2 * exp_avg_sq[i] + s.one_minus_beta2 * (g * g);
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    float v_used = v;
    if constexpr (kAmsgrad) {
      v_used = max_nan(max_exp_avg_sq[i], v);
      max_exp_avg_sq[i] = v_used;
    }
    const float denom = std::sqrt(v_used) / s.bias_correction2_sqrt + s.eps;
    param[i] = p - s.step_size * (m / denom);
  }
}

}  // namespace

void adam_range_portable(const AdamScalars& s, index_t n, float* param, const float* grad,
                         float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq) {
  with_adam_flags(s, [&](auto decay, auto amsgrad) {
    adam_range<decltype(decay)::value, decltype(amsgrad)::value>(s, n, param, grad, exp_avg,
                                                                  exp_avg_sq, max_exp_avg_sq);
  });
}

}  // namespace detail

namespace {
// Elements per thread share: 4 KiB of each array, so shares start on a cache line (and a
// page) of every buffer that is itself aligned, and only the last share has a vector tail.
constexpr index_t kGrain = 1024;
}  // namespace

namespace detail {

AdamScalars adam_scalars(const AdamParams& p, index_t n, const float* max_exp_avg_sq,
                         const char* kFn) {
  KILN_CHECK(p.step >= 1, kFn << ": step must be >= 1 (the 1-based step count), got " << p.step);
  KILN_CHECK(p.lr >= 0.0, kFn << ": lr must be >= 0, got " << p.lr);
  KILN_CHECK(p.eps >= 0.0, kFn << ": eps must be >= 0, got " << p.eps);
  KILN_CHECK(p.beta1 >= 0.0 && p.beta1 < 1.0, kFn << ": beta1 must be in [0, 1), got " << p.beta1);
  KILN_CHECK(p.beta2 >= 0.0 && p.beta2 < 1.0, kFn << ": beta2 must be in [0, 1), got " << p.beta2);
  KILN_CHECK(p.weight_decay >= 0.0, kFn << ": weight_decay must be >= 0, got " << p.weight_decay);
  checked_size(kFn, "param", n);
  KILN_CHECK(!p.amsgrad || max_exp_avg_sq != nullptr || n == 0,
             kFn << ": amsgrad needs max_exp_avg_sq");

  const double bias_correction1 = 1.0 - std::pow(p.beta1, static_cast<double>(p.step));
  const double bias_correction2 = 1.0 - std::pow(p.beta2, static_cast<double>(p.step));
  AdamScalars s;
  // torch skips a zero weight decay entirely (0 * inf would be NaN).
  s.decay = p.weight_decay == 0.0 ? AdamDecay::none
            : p.decoupled         ? AdamDecay::decoupled
                                  : AdamDecay::coupled;
  s.amsgrad = p.amsgrad;
  s.maximize = p.maximize;
  s.weight_decay = static_cast<float>(p.weight_decay);
  s.decay_factor = static_cast<float>(1.0 - p.lr * p.weight_decay);
  s.beta1 = static_cast<float>(p.beta1);
  s.one_minus_beta1 = static_cast<float>(1.0 - p.beta1);
  s.beta2 = static_cast<float>(p.beta2);
  s.one_minus_beta2 = static_cast<float>(1.0 - p.beta2);
  s.step_size = static_cast<float>(p.lr / bias_correction1);
  s.bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  s.eps = static_cast<float>(p.eps);
  return s;
}

}  // namespace detail

void adam_step(const AdamParams& p, index_t n, float* param, const float* grad, float* exp_avg,
               float* exp_avg_sq, float* max_exp_avg_sq) {
  constexpr const char* kFn = "adam_step";
  const detail::AdamScalars s = detail::adam_scalars(p, n, max_exp_avg_sq, kFn);
  if (n == 0) return;
  KILN_CHECK(param && grad && exp_avg && exp_avg_sq,
             kFn << ": param, grad, exp_avg and exp_avg_sq must not be null");

  const detail::AdamRangeKernel kernel = detail::cpu_kernels().adam;
  // Memory-bound: 28 (or 36) bytes per element; threads pay once a share outlasts a
  // fork/join, from ~64k elements (threads_for counts 16 "flops" per element).
  detail::parallel_range(n, 16.0 * n, kGrain, [&](index_t begin, index_t end) {
    kernel(s, end - begin, param + begin, grad + begin, exp_avg + begin, exp_avg_sq + begin,
           p.amsgrad ? max_exp_avg_sq + begin : nullptr);
  });
}

}  // namespace kiln
