#include "kiln/activation.hpp"

#include <cmath>

#include "activation_math.hpp"
#include "check.hpp"
#include "parallel.hpp"
#include "parallel_range.hpp"
#include "softmax_row.hpp"

// No __restrict here: an output may be its input (in place), element for element.
namespace kiln {
namespace {

// Rough flops per element, to size the thread team.
double flops_per_element(Activation act) {
  return act == Activation::none || act == Activation::relu ? 1.0 : 20.0;
}

// Elements per thread share: whole cache lines.
constexpr index_t kGrain = 64;

template <Activation kAct>
void forward_range(index_t begin, index_t end, const float* x, float* y) {
  for (index_t i = begin; i < end; ++i) y[i] = detail::activate(kAct, x[i]);
}

// relu and gelu differentiate from the input, sigmoid and tanh from the output.
constexpr bool reads_input(Activation act) {
  return act == Activation::relu || act == Activation::gelu || act == Activation::gelu_tanh;
}

template <Activation kAct>
void backward_range(index_t begin, index_t end, const float* x, const float* y, const float* dy,
                    float* dx) {
  for (index_t i = begin; i < end; ++i) {
    const float xi = reads_input(kAct) ? x[i] : 0.0f;
    const float yi = reads_input(kAct) ? 0.0f : y[i];
    dx[i] = dy[i] * detail::activation_derivative(kAct, xi, yi);
  }
}

// torch's threshold_backward: a select, not a product, so dy's NaN/Inf stay out
// where x <= 0, and a NaN x passes dy through.
template <>
void backward_range<Activation::relu>(index_t begin, index_t end, const float* x, const float*,
                                      const float* dy, float* dx) {
  for (index_t i = begin; i < end; ++i) dx[i] = x[i] <= 0.0f ? 0.0f : dy[i];
}

template <Activation kAct>
void forward_all(index_t n, const float* x, float* y) {
  detail::parallel_range(n, flops_per_element(kAct) * n, kGrain,
                         [&](index_t b, index_t e) { forward_range<kAct>(b, e, x, y); });
}

template <Activation kAct>
void backward_all(index_t n, const float* x, const float* y, const float* dy, float* dx) {
  detail::parallel_range(n, flops_per_element(kAct) * n, kGrain,
                         [&](index_t b, index_t e) { backward_range<kAct>(b, e, x, y, dy, dx); });
}

}  // namespace

void activation_forward(Activation act, index_t n, const float* x, float* y) {
  constexpr const char* kFn = "activation_forward";
  detail::check_activation(act, kFn);
  KILN_CHECK(n >= 0, kFn << ": n must be >= 0, got " << n);
  detail::checked_size(kFn, "x", n);
  if (n == 0) return;
  KILN_CHECK(x && y, kFn << ": x and y must not be null");
  switch (act) {
    case Activation::none: forward_all<Activation::none>(n, x, y); break;
    case Activation::relu: forward_all<Activation::relu>(n, x, y); break;
    case Activation::sigmoid: forward_all<Activation::sigmoid>(n, x, y); break;
    case Activation::tanh: forward_all<Activation::tanh>(n, x, y); break;
    case Activation::gelu: forward_all<Activation::gelu>(n, x, y); break;
    case Activation::gelu_tanh: forward_all<Activation::gelu_tanh>(n, x, y); break;
  }
}

void activation_backward(Activation act, index_t n, const float* x, const float* y,
                         const float* dy, float* dx) {
  constexpr const char* kFn = "activation_backward";
  detail::check_activation(act, kFn);
  KILN_CHECK(n >= 0, kFn << ": n must be >= 0, got " << n);
  detail::checked_size(kFn, "dy", n);
  if (n == 0) return;
  KILN_CHECK(dy && dx, kFn << ": dy and dx must not be null");
  KILN_CHECK(act == Activation::none || (reads_input(act) ? x != nullptr : y != nullptr),
             kFn << ": " << activation_name(act) << " needs "
                 << (reads_input(act) ? "its input x" : "its output y"));
  switch (act) {
    case Activation::none: backward_all<Activation::none>(n, x, y, dy, dx); break;
    case Activation::relu: backward_all<Activation::relu>(n, x, y, dy, dx); break;
    case Activation::sigmoid: backward_all<Activation::sigmoid>(n, x, y, dy, dx); break;
    case Activation::tanh: backward_all<Activation::tanh>(n, x, y, dy, dx); break;
    case Activation::gelu: backward_all<Activation::gelu>(n, x, y, dy, dx); break;
    case Activation::gelu_tanh: backward_all<Activation::gelu_tanh>(n, x, y, dy, dx); break;
  }
}

namespace {

void check_rows(const char* fn, index_t rows, index_t cols) {
  KILN_CHECK(rows >= 0 && cols >= 0, fn << ": sizes must be >= 0, got rows=" << rows
                                        << " cols=" << cols);
  detail::checked_size(fn, "x", rows, cols);
}

template <typename RowFn>
void for_each_row(index_t rows, index_t cols, RowFn&& row_fn) {
  detail::parallel_range(rows, 20.0 * rows * cols, 1, [&](index_t begin, index_t end) {
    for (index_t r = begin; r < end; ++r) row_fn(r);
  });
}

}  // namespace

void softmax_forward(index_t rows, index_t cols, const float* x, float* y, bool log) {
  constexpr const char* kFn = "softmax_forward";
  check_rows(kFn, rows, cols);
  if (rows == 0 || cols == 0) return;
  KILN_CHECK(x && y, kFn << ": x and y must not be null");
  if (log) {
    for_each_row(rows, cols, [&](index_t r) {
      const float* xr = x + r * cols;
      float* yr = y + r * cols;
      const float m = detail::row_max(xr, cols);
      const float log_sum = std::log(detail::sum_exp_shifted(xr, cols, m));
      for (index_t k = 0; k < cols; ++k) yr[k] = (xr[k] - m) - log_sum;
    });
  } else {
    for_each_row(rows, cols, [&](index_t r) {
      const float* xr = x + r * cols;
      float* yr = y + r * cols;
      const float m = detail::row_max(xr, cols);
      const float inv_sum = 1.0f / detail::store_exp_shifted(xr, cols, m, yr);
      for (index_t k = 0; k < cols; ++k) yr[k] *= inv_sum;
    });
  }
}

void softmax_backward(index_t rows, index_t cols, const float* y, const float* dy, float* dx,
                      bool log) {
  constexpr const char* kFn = "softmax_backward";
  check_rows(kFn, rows, cols);
  if (rows == 0 || cols == 0) return;
  KILN_CHECK(y && dy && dx, kFn << ": y, dy and dx must not be null");
  if (log) {
    for_each_row(rows, cols, [&](index_t r) {
      const float* yr = y + r * cols;
      const float* dyr = dy + r * cols;
      float* dxr = dx + r * cols;
      const float dy_sum = detail::lane_sum<float>(0, cols, [&](index_t k) { return dyr[k]; });
      for (index_t k = 0; k < cols; ++k) dxr[k] = dyr[k] - std::exp(yr[k]) * dy_sum;
    });
  } else {
    for_each_row(rows, cols, [&](index_t r) {
      const float* yr = y + r * cols;
      const float* dyr = dy + r * cols;
      float* dxr = dx + r * cols;
      const float dot = detail::lane_sum<float>(0, cols, [&](index_t k) { return dyr[k] * yr[k]; });
      for (index_t k = 0; k < cols; ++k) dxr[k] = yr[k] * (dyr[k] - dot);
    });
  }
}

}  // namespace kiln
