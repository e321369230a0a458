// kiln CPU: layer norm and batch norm, forward and backward (kiln/norm.hpp).
//
// Layer norm: rows in parallel; a row's statistics are two passes over it while it sits in
// L1 (the mean, then the squared deviations: no cancellation), each a sum in 8 double lanes
// the compiler vectorizes, then the fused normalize + affine pass. The backward's dx is
// rows in parallel too; dweight/dbias are column blocks in parallel, each column summed
// over the rows in row order, so no per-thread partials and no thread-count dependence.
// Batch norm: channels in parallel, each channel's sums in double over (outer, inner) in
// one fixed order (two passes for the variance), then the elementwise passes.
#include "kiln/norm.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "check.hpp"
#include "parallel.hpp"

namespace kiln {
namespace {

constexpr int kLanes = 8;

// sum over k of f(k), k in [0, n), in kLanes interleaved double partials, added in order.
// Double: a row of equal values has its own value as mean exactly (so a variance of 0, not
// rounding noise that eps would then amplify), and long rows lose nothing to the sum.
template <class F>
double lane_sum(index_t n, F&& f) {
  double lanes[kLanes] = {};
  index_t k = 0;
  for (; k + kLanes <= n; k += kLanes)
    for (int l = 0; l < kLanes; ++l) lanes[l] += f(k + l);
  for (int l = 0; k < n; ++k, ++l) lanes[l] += f(k);
  double total = 0.0;
  for (int l = 0; l < kLanes; ++l) total += lanes[l];
  return total;
}

// Columns per share of the weight-gradient sums: a few cache lines, never split.
constexpr index_t kColumnBlock = 64;

}  // namespace

void layer_norm_check(const char* fn, const LayerNormParams& p) {
  KILN_CHECK(p.rows >= 0, fn << ": rows must be >= 0, got " << p.rows);
  KILN_CHECK(p.cols >= 1, fn << ": cols (the normalized size) must be >= 1, got " << p.cols);
  KILN_CHECK(std::isfinite(p.eps) && p.eps >= 0.0f, fn << ": eps must be finite and >= 0, got " << p.eps);
  detail::checked_size(fn, "x", p.rows, p.cols);
}

void batch_norm_check(const char* fn, const BatchNormParams& p) {
  KILN_CHECK(p.outer >= 0 && p.inner >= 0, fn << ": outer and inner must be >= 0, got " << p.outer << " and "
                                               << p.inner);
  KILN_CHECK(p.channels >= 1, fn << ": channels must be >= 1, got " << p.channels);
  KILN_CHECK(std::isfinite(p.eps) && p.eps >= 0.0f, fn << ": eps must be finite and >= 0, got " << p.eps);
  detail::checked_size(fn, "x", p.outer, p.channels, p.inner);
}

void layer_norm_forward(const LayerNormParams& p, const float* x, const float* weight, const float* bias,
                        float* y, float* mean, float* rstd) {
  constexpr const char* kFn = "layer_norm_forward";
  layer_norm_check(kFn, p);
  if (p.rows == 0) return;
  KILN_CHECK(x && y && mean && rstd, kFn << ": x, y, mean and rstd must not be null");
  const index_t n = p.cols;
  const double inv_n = 1.0 / static_cast<double>(n);
  detail::parallel_for(p.rows, detail::threads_for(8.0 * p.rows * n), [&](index_t r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    const float m = static_cast<float>(lane_sum(n, [&](index_t k) { return double(xr[k]); }) * inv_n);
    const float var = static_cast<float>(
        lane_sum(n, [&](index_t k) { const float d = xr[k] - m; return double(d) * d; }) * inv_n);
    const float s = 1.0f / std::sqrt(var + p.eps);
    mean[r] = m, rstd[r] = s;
    if (weight && bias)
      for (index_t k = 0; k < n; ++k) yr[k] = (xr[k] - m) * s * weight[k] + bias[k];
    else if (weight)
      for (index_t k = 0; k < n; ++k) yr[k] = (xr[k] - m) * s * weight[k];
    else if (bias)
      for (index_t k = 0; k < n; ++k) yr[k] = (xr[k] - m) * s + bias[k];
    else
      for (index_t k = 0; k < n; ++k) yr[k] = (xr[k] - m) * s;
  });
}

void layer_norm_backward(const LayerNormParams& p, const float* dy, const float* x, const float* mean,
                         const float* rstd, const float* weight, float* dx, float* dweight, float* dbias) {
  constexpr const char* kFn = "layer_norm_backward";
  layer_norm_check(kFn, p);
  const index_t n = p.cols;
  if (dweight) std::fill(dweight, dweight + n, 0.0f);
  if (dbias) std::fill(dbias, dbias + n, 0.0f);
  if (p.rows == 0) return;
  KILN_CHECK(dy && x && mean && rstd, kFn << ": dy, x, mean and rstd must not be null");
  const float inv_n = static_cast<float>(1.0 / static_cast<double>(n));
  const int nthreads = detail::threads_for(12.0 * p.rows * n);
  if (dx) {
    detail::parallel_for(p.rows, nthreads, [&](index_t r) {
      const float *xr = x + r * n, *gr = dy + r * n;
      const float m = mean[r], s = rstd[r];
      auto g = [&](index_t k) { return weight ? gr[k] * weight[k] : gr[k]; };
      const float g_mean = static_cast<float>(lane_sum(n, g) * inv_n);
      const float gx_mean =
          static_cast<float>(lane_sum(n, [&](index_t k) { return g(k) * ((xr[k] - m) * s); }) * inv_n);
      float* dr = dx + r * n;
      for (index_t k = 0; k < n; ++k) dr[k] = s * (g(k) - g_mean - (xr[k] - m) * s * gx_mean);
    });
  }
  if (!dweight && !dbias) return;
  const index_t blocks = (n + kColumnBlock - 1) / kColumnBlock;
  detail::parallel_for(blocks, nthreads, [&](index_t b) {
    const index_t k0 = b * kColumnBlock, k1 = std::min(n, k0 + kColumnBlock);
    for (index_t r = 0; r < p.rows; ++r) {
      const float *xr = x + r * n, *gr = dy + r * n;
      const float m = mean[r], s = rstd[r];
      if (dweight)
        for (index_t k = k0; k < k1; ++k) dweight[k] += gr[k] * ((xr[k] - m) * s);
      if (dbias)
        for (index_t k = k0; k < k1; ++k) dbias[k] += gr[k];
    }
  });
}

namespace {

// For each channel c: (sum of a(x, c), sum of b(x, c)) over (outer, inner) in double, in
// (outer, inner) order; channels in parallel.
template <class A, class B>
void channel_sums(const BatchNormParams& p, int nthreads, std::vector<double>& sa, std::vector<double>& sb,
                  const float* u, const float* v, A&& a, B&& b) {
  const index_t c_count = p.channels, inner = p.inner;
  sa.assign(c_count, 0.0), sb.assign(c_count, 0.0);
  detail::parallel(std::max<int>(1, static_cast<int>(std::min<index_t>(nthreads, c_count))), [&](int t, int shares) {
    index_t c0, c1;
    detail::split_range(c_count, t, shares, 1, c0, c1);
    for (index_t o = 0; o < p.outer; ++o)
      for (index_t c = c0; c < c1; ++c) {
        const index_t base = (o * c_count + c) * inner;
        double x = 0.0, y = 0.0;
        for (index_t i = 0; i < inner; ++i) {
          x += a(u[base + i], v ? v[base + i] : 0.0f, c);
          y += b(u[base + i], v ? v[base + i] : 0.0f, c);
        }
        sa[c] += x, sb[c] += y;
      }
  });
}

}  // namespace

void batch_norm_forward(const BatchNormParams& p, const float* x, const float* weight, const float* bias,
                        const float* running_mean, const float* running_var, bool training, float* y,
                        float* save_mean, float* save_invstd, float* batch_var) {
  constexpr const char* kFn = "batch_norm_forward";
  batch_norm_check(kFn, p);
  const index_t c_count = p.channels, inner = p.inner, total = p.outer * p.channels * p.inner;
  KILN_CHECK(total == 0 || (x && y), kFn << ": x and y must not be null");
  std::vector<float> mean(c_count), invstd(c_count);
  const int nthreads = detail::threads_for(6.0 * total);
  if (training) {
    const double count = static_cast<double>(p.outer) * static_cast<double>(inner);
    std::vector<double> sum, unused;
    channel_sums(p, nthreads, sum, unused, x, nullptr, [](float u, float, index_t) { return double(u); },
                 [](float, float, index_t) { return 0.0; });
    std::vector<double> mean_d(c_count);
    for (index_t c = 0; c < c_count; ++c) mean_d[c] = sum[c] / count;
    std::vector<double> squares;
    channel_sums(p, nthreads, squares, unused, x, nullptr,
                 [&](float u, float, index_t c) { const double d = u - mean_d[c]; return d * d; },
                 [](float, float, index_t) { return 0.0; });
    for (index_t c = 0; c < c_count; ++c) {
      const double var = squares[c] / count;
      mean[c] = static_cast<float>(mean_d[c]);
      invstd[c] = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(p.eps)));
      if (batch_var) batch_var[c] = static_cast<float>(var);
    }
  } else {
    KILN_CHECK(running_mean && running_var, kFn << ": inference needs running_mean and running_var");
    for (index_t c = 0; c < c_count; ++c) {
      mean[c] = running_mean[c];
      invstd[c] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(running_var[c]) + p.eps));
    }
  }
  if (save_mean) std::copy(mean.begin(), mean.end(), save_mean);
  if (save_invstd) std::copy(invstd.begin(), invstd.end(), save_invstd);
  detail::parallel_for(p.outer * c_count, nthreads, [&](index_t oc) {
    const index_t c = oc % c_count;
    const float scale = weight ? invstd[c] * weight[c] : invstd[c], shift = bias ? bias[c] : 0.0f, m = mean[c];
    const float* xs = x + oc * inner;
    float* ys = y + oc * inner;
    for (index_t i = 0; i < inner; ++i) ys[i] = (xs[i] - m) * scale + shift;
  });
}

void batch_norm_backward(const BatchNormParams& p, const float* dy, const float* x, const float* save_mean,
                         const float* save_invstd, const float* weight, bool training, float* dx,
                         float* dweight, float* dbias) {
  constexpr const char* kFn = "batch_norm_backward";
  batch_norm_check(kFn, p);
  const index_t c_count = p.channels, inner = p.inner, total = p.outer * p.channels * p.inner;
  KILN_CHECK(save_mean && save_invstd, kFn << ": save_mean and save_invstd must not be null");
  KILN_CHECK(total == 0 || (dy && x), kFn << ": dy and x must not be null");
  const int nthreads = detail::threads_for(8.0 * total);
  std::vector<double> sum_dy, sum_dy_xmu;
  const bool sums = training || dweight || dbias;
  if (sums)
    channel_sums(p, nthreads, sum_dy, sum_dy_xmu, dy, x, [](float g, float, index_t) { return double(g); },
                 [&](float g, float u, index_t c) { return double(g) * (double(u) - save_mean[c]); });
  for (index_t c = 0; c < c_count && sums; ++c) {
    if (dweight) dweight[c] = static_cast<float>(sum_dy_xmu[c] * save_invstd[c]);
    if (dbias) dbias[c] = static_cast<float>(sum_dy[c]);
  }
  if (!dx || total == 0) return;
  const double count = static_cast<double>(p.outer) * static_cast<double>(inner);
  std::vector<float> dy_mean(c_count, 0.0f), proj(c_count, 0.0f);
  if (training)
    for (index_t c = 0; c < c_count; ++c) {
      const double s = save_invstd[c];
      dy_mean[c] = static_cast<float>(sum_dy[c] / count);
      proj[c] = static_cast<float>(sum_dy_xmu[c] / count * s * s);  // mean(dy * xhat) * invstd
    }
  detail::parallel_for(p.outer * c_count, nthreads, [&](index_t oc) {
    const index_t c = oc % c_count;
    const float s = save_invstd[c], scale = weight ? s * weight[c] : s, m = save_mean[c];
    const float *gs = dy + oc * inner, *xs = x + oc * inner;
    float* ds = dx + oc * inner;
    if (training)
      for (index_t i = 0; i < inner; ++i) ds[i] = scale * (gs[i] - dy_mean[c] - (xs[i] - m) * proj[c]);
    else
      for (index_t i = 0; i < inner; ++i) ds[i] = scale * gs[i];
  });
}

}  // namespace kiln
