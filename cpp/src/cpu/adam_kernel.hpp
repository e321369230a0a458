// Internal: the Adam update over one contiguous range, one function per ISA.
//
//   param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq: (n,) each, distinct buffers
//
// Each element is read once and written once. The portable loop (adam.cpp) is the
// reference that the SIMD versions (simd/adam_avx2.cpp, simd/adam_avx512.cpp) follow
// operation for operation (they fuse multiply-adds, the portable loop does not).
// Declarations only: this header is included by files compiled for other ISAs.
#pragma once

#include <type_traits>

#include "kiln/adam.hpp"
#include "kiln/common.hpp"

namespace kiln::detail {

enum class AdamDecay { none, coupled, decoupled };

// The per-step scalars, rounded to float as torch does when it applies Python
// floats to float32 tensors.
struct AdamScalars {
  AdamDecay decay;
  bool amsgrad, maximize;
  float weight_decay, decay_factor;
  float beta1, one_minus_beta1, beta2, one_minus_beta2;
  float step_size, bias_correction2_sqrt, eps;
};

// Checks p, n and max_exp_avg_sq as adam_step documents (std::invalid_argument naming
// `kernel`), then rounds the step's scalars to float. The CUDA kernel (cpp/src/cuda/adam.cu)
// takes the same scalars, so both devices apply the same floats.
AdamScalars adam_scalars(const AdamParams& p, index_t n, const float* max_exp_avg_sq,
                         const char* kernel);

using AdamRangeKernel = void (*)(const AdamScalars& s, index_t n, float* param, const float* grad,
                                 float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq);

// The six variants behind one pointer, as the SIMD files export theirs.
void adam_range_portable(const AdamScalars& s, index_t n, float* param, const float* grad,
                         float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq);
void adam_range_avx2(const AdamScalars& s, index_t n, float* param, const float* grad,
                     float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq);
void adam_range_avx512(const AdamScalars& s, index_t n, float* param, const float* grad,
                       float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq);

// Calls f(decay, amsgrad) with s's flags as std::integral_constants, so that each ISA
// file instantiates its six loops from one switch.
template <typename F>
void with_adam_flags(const AdamScalars& s, F&& f) {
  auto with_decay = [&](auto decay) {
    if (s.amsgrad)
      f(decay, std::true_type{});
    else
      f(decay, std::false_type{});
  };
  switch (s.decay) {
    case AdamDecay::none:
      with_decay(std::integral_constant<AdamDecay, AdamDecay::none>{});
      break;
    case AdamDecay::coupled:
      with_decay(std::integral_constant<AdamDecay, AdamDecay::coupled>{});
      break;
    case AdamDecay::decoupled:
      with_decay(std::integral_constant<AdamDecay, AdamDecay::decoupled>{});
      break;
  }
}

}  // namespace kiln::detail
