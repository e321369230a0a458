#include "kiln/activation.hpp"

#include <cmath>
#include <fstream>

#include "activation_math.hpp"
#include "check.hpp"
#include "dispatch.hpp"
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

// The last-level cache that cpu0 shares, as Linux describes it (sysconf's answer is the
// whole socket's on AMD, whose L3 is per core complex); 32 MiB where it does not say.
double last_level_cache_bytes() {
  std::ifstream file("/sys/devices/system/cpu/cpu0/cache/index3/size");
  double size = 0;
  char unit = 0;
  if (!(file >> size >> unit) || size <= 0) return 32.0 * (1 << 20);
  return size * (unit == 'M' ? 1 << 20 : unit == 'K' ? 1 << 10 : 1);
}

// A pass whose bytes exceed half the last-level cache writes its output with streaming
// stores: the output leaves the cache before a reader comes, and a plain store first reads
// each line it writes (three transfers per float instead of two; at 4M floats gelu ran 7%,
// sigmoid 10% faster; docs/DESIGN.md).
bool streams_output(double bytes) {
  static const double half_cache = 0.5 * last_level_cache_bytes();
  return bytes > half_cache;
}

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

void activation_forward_portable(Activation act, index_t n, const float* x, float* y) {
  switch (act) {
    case Activation::none: forward_range<Activation::none>(0, n, x, y); break;
    case Activation::relu: forward_range<Activation::relu>(0, n, x, y); break;
    case Activation::sigmoid: forward_range<Activation::sigmoid>(0, n, x, y); break;
    case Activation::tanh: forward_range<Activation::tanh>(0, n, x, y); break;
    case Activation::gelu: forward_range<Activation::gelu>(0, n, x, y); break;
    case Activation::gelu_tanh: forward_range<Activation::gelu_tanh>(0, n, x, y); break;
  }
}

void activation_backward_portable(Activation act, index_t n, const float* x, const float* y,
                                  const float* dy, float* dx) {
  switch (act) {
    case Activation::none: backward_range<Activation::none>(0, n, x, y, dy, dx); break;
    case Activation::relu: backward_range<Activation::relu>(0, n, x, y, dy, dx); break;
    case Activation::sigmoid: backward_range<Activation::sigmoid>(0, n, x, y, dy, dx); break;
    case Activation::tanh: backward_range<Activation::tanh>(0, n, x, y, dy, dx); break;
    case Activation::gelu: backward_range<Activation::gelu>(0, n, x, y, dy, dx); break;
    case Activation::gelu_tanh: backward_range<Activation::gelu_tanh>(0, n, x, y, dy, dx); break;
  }
}

}  // namespace

namespace detail {
PointwiseKernels pointwise_kernels_portable() {
  return {&activation_forward_portable,  &activation_backward_portable,
          &activation_forward_portable,  &activation_backward_portable,
          &row_max, &exp_shifted_sum, &scale_shift};
}
}  // namespace detail

void activation_forward(Activation act, index_t n, const float* x, float* y) {
  constexpr const char* kFn = "activation_forward";
  detail::check_activation(act, kFn);
  KILN_CHECK(n >= 0, kFn << ": n must be >= 0, got " << n);
  detail::checked_size(kFn, "x", n);
  if (n == 0) return;
  KILN_CHECK(x && y, kFn << ": x and y must not be null");
  const detail::PointwiseKernels& kern = detail::cpu_kernels().pointwise;
  const detail::ActivationForwardKernel kernel =
      streams_output(8.0 * n) ? kern.activation_forward_streaming : kern.activation_forward;
  detail::parallel_range(n, flops_per_element(act) * n, kGrain, [&](index_t b, index_t e) {
    kernel(act, e - b, x + b, y + b);
  });
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
  const detail::PointwiseKernels& kern = detail::cpu_kernels().pointwise;
  const detail::ActivationBackwardKernel kernel =
      streams_output(12.0 * n) ? kern.activation_backward_streaming : kern.activation_backward;
  // Offsetting a null operand would be undefined: the kernel does not read it.
  auto at = [](const float* p, index_t i) { return p ? p + i : nullptr; };
  detail::parallel_range(n, flops_per_element(act) * n, kGrain, [&](index_t b, index_t e) {
    kernel(act, e - b, at(x, b), at(y, b), dy + b, dx + b);
  });
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
  const detail::PointwiseKernels& kern = detail::cpu_kernels().pointwise;
  if (log) {
    for_each_row(rows, cols, [&](index_t r) {
      const float* xr = x + r * cols;
      float* yr = y + r * cols;
      const float m = kern.row_max(xr, cols);
      const float log_sum = std::log(kern.exp_shifted_sum(xr, cols, m, nullptr));
      for (index_t k = 0; k < cols; ++k) yr[k] = (xr[k] - m) - log_sum;
    });
  } else {
    for_each_row(rows, cols, [&](index_t r) {
      const float* xr = x + r * cols;
      float* yr = y + r * cols;
      const float m = kern.row_max(xr, cols);
      kern.scale_shift(yr, cols, 1.0f / kern.exp_shifted_sum(xr, cols, m, yr), 0.0f);
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
