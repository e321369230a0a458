#include "kiln/loss.hpp"

#include <algorithm>
#include <cmath>

#include "activation_math.hpp"
#include "check.hpp"
#include "dispatch.hpp"
#include "parallel.hpp"
#include "reduce.hpp"

namespace kiln {
namespace {

// Elements per block of a loss sum: enough work per block to share among threads,
// small enough that a few blocks exist even for modest sizes.
constexpr index_t kSumBlock = 4096;

// The mean's divisor folded into the upstream gradient (inf for zero terms: then no
// gradient element is written with it).
float mean_factor(float grad_scale, index_t terms) {
  return static_cast<float>(static_cast<double>(grad_scale) / static_cast<double>(terms));
}

void check_cross_entropy(const char* fn, const CrossEntropyParams& p, const float* logits,
                         const void* target, const float* loss) {
  KILN_CHECK(p.rows >= 0, fn << ": rows must be >= 0, got " << p.rows);
  KILN_CHECK(p.classes >= 1, fn << ": classes must be >= 1, got " << p.classes);
  KILN_CHECK(p.label_smoothing >= 0.0f && p.label_smoothing <= 1.0f,
             fn << ": label_smoothing must be in [0, 1], got " << p.label_smoothing);
  detail::checked_size(fn, "logits", p.rows, p.classes);
  KILN_CHECK(loss != nullptr, fn << ": loss is null");
  KILN_CHECK(p.rows == 0 || (logits && target), fn << ": logits and target must not be null");
}

// Rows per block of the cross-entropy sum.
index_t rows_per_block(index_t classes) { return std::max<index_t>(1, kSumBlock / classes); }

}  // namespace

void softmax_cross_entropy(const CrossEntropyParams& p, const float* logits,
                           const std::int64_t* target, float* loss, float* grad) {
  constexpr const char* kFn = "softmax_cross_entropy";
  check_cross_entropy(kFn, p, logits, target, loss);
  const index_t n = p.rows, c = p.classes;
  index_t counted = 0;
  for (index_t r = 0; r < n; ++r) {
    if (target[r] == p.ignore_index) continue;
    KILN_CHECK(target[r] >= 0 && target[r] < c,
               kFn << ": target[" << r << "] = " << target[r] << " is out of range [0, " << c
                   << ") and is not ignore_index (" << p.ignore_index << ")");
    ++counted;
  }
  // Smoothing mixes the one-hot target with the uniform one: on at the target, off everywhere.
  const float off = p.label_smoothing / static_cast<float>(c);
  const float on = 1.0f - p.label_smoothing;
  const float factor = mean_factor(p.grad_scale, counted);
  const detail::PointwiseKernels& kern = detail::cpu_kernels().pointwise;

  auto row_loss = [&](index_t r) -> double {
    const float* z = logits + r * c;
    float* g = grad ? grad + r * c : nullptr;
    const std::int64_t t = target[r];
    if (t == p.ignore_index) {
      if (g) std::fill_n(g, c, 0.0f);
      return 0.0;
    }
    const float m = kern.row_max(z, c);
    const float s = kern.exp_shifted_sum(z, c, m, g);
    // -log softmax(z)[k] = log(s) - (z[k] - m), averaged with weights on/off.
    double l = static_cast<double>(std::log(s)) - on * static_cast<double>(z[t] - m);
    if (off != 0.0f) {
      l -= off * detail::lane_sum<double>(0, c, [&](index_t k) { return z[k] - m; });
    }
    if (g) {
      kern.scale_shift(g, c, factor / s, off * factor);
      g[t] -= on * factor;
    }
    return l;
  };
  const int nthreads = detail::threads_for(10.0 * n * c);
  const double total = detail::blocked_sum(n, rows_per_block(c), nthreads, row_loss);
  *loss = static_cast<float>(total / static_cast<double>(counted));
}

void softmax_cross_entropy_probs(const CrossEntropyParams& p, const float* logits,
                                 const float* target, float* loss, float* grad) {
  constexpr const char* kFn = "softmax_cross_entropy";
  check_cross_entropy(kFn, p, logits, target, loss);
  const index_t n = p.rows, c = p.classes;
  const float off = p.label_smoothing / static_cast<float>(c);
  const float on = 1.0f - p.label_smoothing;
  const float factor = mean_factor(p.grad_scale, n);
  const detail::PointwiseKernels& kern = detail::cpu_kernels().pointwise;

  auto row_loss = [&](index_t r) -> double {
    const float* z = logits + r * c;
    const float* t = target + r * c;
    float* g = grad ? grad + r * c : nullptr;
    const float m = kern.row_max(z, c);
    const float s = kern.exp_shifted_sum(z, c, m, g);
    // loss = sum_k t'[k] * (log(s) - (z[k] - m)), t' the smoothed target.
    const double t_sum =
        detail::lane_sum<double>(0, c, [&](index_t k) { return on * t[k] + off; });
    const double tz_sum =
        detail::lane_sum<double>(0, c, [&](index_t k) { return (on * t[k] + off) * (z[k] - m); });
    if (g) {
      // d loss / d z[k] = softmax(z)[k] * sum(t') - t'[k]
      const float scale = static_cast<float>(t_sum) * factor / s;
      for (index_t k = 0; k < c; ++k) g[k] = g[k] * scale - (on * t[k] + off) * factor;
    }
    return static_cast<double>(std::log(s)) * t_sum - tz_sum;
  };
  const int nthreads = detail::threads_for(12.0 * n * c);
  const double total = detail::blocked_sum(n, rows_per_block(c), nthreads, row_loss);
  *loss = static_cast<float>(total / static_cast<double>(n));
}

namespace {

// One element of binary cross-entropy with logits, torch's formulation:
//   loss = (1 - y) * x - lw * log_sigmoid(x),  lw = 1 + (pos_weight - 1) * y
//   d loss / d x = lw * sigmoid(x) - pos_weight * y
inline float bce_term(float x, float y, float pos_weight, float factor, float& grad) {
  const float log_weight = 1.0f + (pos_weight - 1.0f) * y;
  const float log_sigmoid = std::min(x, 0.0f) - std::log1p(std::exp(-std::fabs(x)));
  grad = (log_weight * detail::sigmoid(x) - pos_weight * y) * factor;
  return (1.0f - y) * x - log_weight * log_sigmoid;
}

}  // namespace

void bce_with_logits(index_t rows, index_t cols, const float* logits, const float* target,
                     const float* pos_weight, float grad_scale, float* loss, float* grad) {
  constexpr const char* kFn = "bce_with_logits";
  KILN_CHECK(rows >= 0 && cols >= 0,
             kFn << ": sizes must be >= 0, got rows=" << rows << " cols=" << cols);
  const index_t n = detail::checked_size(kFn, "logits", rows, cols);
  KILN_CHECK(loss != nullptr, kFn << ": loss is null");
  KILN_CHECK(n == 0 || (logits && target), kFn << ": logits and target must not be null");
  const float factor = mean_factor(grad_scale, n);
  const int nthreads = detail::threads_for(30.0 * n);
  double total = 0.0;
  // The four variants are separate loops, so that none branches per element.
  if (pos_weight && grad) {
    total = detail::blocked_sum(n, kSumBlock, nthreads, [&](index_t i) {
      return bce_term(logits[i], target[i], pos_weight[i % cols], factor, grad[i]);
    });
  } else if (pos_weight) {
    total = detail::blocked_sum(n, kSumBlock, nthreads, [&](index_t i) {
      float g;
      return bce_term(logits[i], target[i], pos_weight[i % cols], factor, g);
    });
  } else if (grad) {
    total = detail::blocked_sum(n, kSumBlock, nthreads, [&](index_t i) {
      return bce_term(logits[i], target[i], 1.0f, factor, grad[i]);
    });
  } else {
    total = detail::blocked_sum(n, kSumBlock, nthreads, [&](index_t i) {
      float g;
      return bce_term(logits[i], target[i], 1.0f, factor, g);
    });
  }
  *loss = static_cast<float>(total / static_cast<double>(n));
}

void mse(index_t n, const float* pred, const float* target, float grad_scale, float* loss,
         float* grad) {
  constexpr const char* kFn = "mse";
  KILN_CHECK(n >= 0, kFn << ": n must be >= 0, got " << n);
  detail::checked_size(kFn, "pred", n);
  KILN_CHECK(loss != nullptr, kFn << ": loss is null");
  KILN_CHECK(n == 0 || (pred && target), kFn << ": pred and target must not be null");
  const float twice_factor = 2.0f * mean_factor(grad_scale, n);
  const int nthreads = detail::threads_for(3.0 * n);
  double total = 0.0;
  if (grad) {
    total = detail::blocked_sum(n, kSumBlock, nthreads, [&](index_t i) {
      const float d = pred[i] - target[i];
      grad[i] = twice_factor * d;
      return d * d;
    });
  } else {
    total = detail::blocked_sum(n, kSumBlock, nthreads, [&](index_t i) {
      const float d = pred[i] - target[i];
      return d * d;
    });
  }
  *loss = static_cast<float>(total / static_cast<double>(n));
}

}  // namespace kiln
