// kiln::cuda activations and softmax against the reference formulas in double (and the
// CPU kernels): every activation forward and backward over values from -12 to 12 (both
// tails), NaN and +-inf, at n = 1, 3, 4, 1001 with the float4 path (aligned) and the
// scalar one (shifted by a float), in place too; relu's select semantics exactly.
// Softmax and log_softmax, forward and backward, along the last axis (warp rows, block
// rows past 1024 columns) and a middle axis (strided rows), in place too. Guard values
// after every output.
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <vector>

#include "cuda_nn_check.hpp"
#include "kiln/activation.hpp"
#include "kiln/cuda/activation.hpp"

using kiln::Activation;
using kiln::index_t;

namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

double forward_ref(Activation a, double x) {
  switch (a) {
    case Activation::none: return x;
    case Activation::relu: return x > 0 ? x : (std::isnan(x) ? x : 0.0);
    case Activation::sigmoid: return sigmoid(x);
    case Activation::tanh: return std::tanh(x);
    case Activation::gelu: return x * 0.5 * std::erfc(-x / std::sqrt(2.0));
    case Activation::gelu_tanh: {
      const double u = std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x);
      return x * sigmoid(2.0 * u);
    }
  }
  return x;
}

// d act / dx at x; y = act(x) in float, as the kernel sees it.
double derivative_ref(Activation a, double x, double y) {
  switch (a) {
    case Activation::none: return 1.0;
    case Activation::relu: return x > 0 ? 1.0 : 0.0;
    case Activation::sigmoid: return y * (1.0 - y);
    case Activation::tanh: return (1.0 - y) * (1.0 + y);
    case Activation::gelu:
      return 0.5 * std::erfc(-x / std::sqrt(2.0)) + x * std::exp(-0.5 * x * x) / std::sqrt(2.0 * M_PI);
    case Activation::gelu_tanh: {
      const double k = std::sqrt(2.0 / M_PI);
      const double s = sigmoid(2.0 * k * (x + 0.044715 * x * x * x));
      return s + 2.0 * x * s * (1.0 - s) * k * (1.0 + 3.0 * 0.044715 * x * x);
    }
  }
  return 1.0;
}

// How much float32's rounding of x itself is amplified in act(x) and act'(x): the
// exponent's argument in the tails (|x| for sigmoid and tanh, x^2 / 2 for gelu's erfc,
// |2u| for gelu_tanh's sigmoid(2u)). A kernel cannot do better than that.
double condition(Activation a, double x) {
  if (!std::isfinite(x)) return 0.0;
  switch (a) {
    case Activation::sigmoid:
    case Activation::tanh: return std::fabs(x);
    case Activation::gelu: return 0.5 * x * x;
    case Activation::gelu_tanh: return std::fabs(2.0 * std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x));
    default: return 0.0;
  }
}

// |got - want| <= (8 + 4 * condition) float32 epsilons of |want|, plus `abs` (in units
// of |scale[i]|).
bool close_conditioned(Activation act, const std::vector<float>& got, const std::vector<float>& want,
                       const std::vector<float>& x, const std::vector<float>& scale, double abs,
                       double floor = FLT_MIN) {
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    if ((std::isnan(g) && std::isnan(w)) || (std::isinf(w) && g == w)) continue;
    // FLT_MIN: below it results are subnormal (or flushed to zero by the CPU's SIMD exp).
    const double tol = (8 + 4 * condition(act, x[i])) * FLT_EPSILON * std::fabs(w) + abs * std::fabs(scale[i]) + floor;
    if (!(std::fabs(g - w) <= tol)) {
      std::printf("%s: [%zu] x=%.9g: %.9g, want %.9g\n", kiln::activation_name(act), i, x[i], g, w);
      return false;
    }
  }
  return true;
}

bool reads_input(Activation a) {
  return a == Activation::relu || a == Activation::gelu || a == Activation::gelu_tanh;
}

void check_activation(Activation act, index_t n, std::size_t shift) {
  std::vector<float> x = random_floats(n, 51 + static_cast<unsigned>(n));
  for (float& v : x) v *= 12.0f;
  if (n > 10) x[3] = NAN, x[4] = INFINITY, x[5] = -INFINITY, x[6] = 0.0f, x[7] = -0.0f;
  const std::vector<float> dy = random_floats(n, 52);
  std::vector<float> y_want(n), dx_want(n), y_cpu(n);
  kiln::activation_forward(act, n, x.data(), y_cpu.data());
  for (index_t i = 0; i < n; ++i) y_want[i] = static_cast<float>(forward_ref(act, x[i]));

  DeviceGuarded<float> xd(x, shift), yd(n, shift), dyd(dy, shift), dxd(n, shift);
  kiln::cuda::activation_forward(act, n, xd.get(), yd.get());
  const std::vector<float> y = yd.download();
  // Forward: a few float32 ulps of the value beyond x's own conditioning (the tails of
  // gelu included: erfc, not 1 + erf).
  const std::vector<float> zeros(n, 0.0f);
  CHECK(close_conditioned(act, y, y_want, x, zeros, 0.0));
  // The CPU's SIMD exp flushes results below ~1e-37 to zero a little early.
  CHECK(close_conditioned(act, y, y_cpu, x, zeros, 0.0, 1e-37));
  CHECK(yd.intact());

  for (index_t i = 0; i < n; ++i) {
    const double d = derivative_ref(act, x[i], y[i]);
    dx_want[i] = act == Activation::relu ? (x[i] <= 0.0f ? 0.0f : dy[i]) : static_cast<float>(dy[i] * d);
  }
  kiln::cuda::activation_backward(act, n, reads_input(act) ? xd.get() : nullptr,
                                  reads_input(act) ? nullptr : yd.get(), dyd.get(), dxd.get());
  const std::vector<float> dx = dxd.download();
  if (act == Activation::relu) {
    CHECK(same_bits(dx, dx_want));
  } else {
    // A derivative of several rounded terms (gelu_tanh's crosses zero): ulps of |dy|.
    CHECK(close_conditioned(act, dx, dx_want, x, dy, 4 * FLT_EPSILON));
  }
  CHECK(dxd.intact());

  // In place: y over x, dx over dy.
  kiln::cuda::activation_forward(act, n, xd.get(), xd.get());
  CHECK(same_bits(xd.download(), y));
  if (!reads_input(act)) {
    kiln::cuda::activation_backward(act, n, nullptr, yd.get(), dyd.get(), dyd.get());
    CHECK(same_bits(dyd.download(), dx));
  }
}

// (outer, cols, inner): element (o, k, i) at (o * cols + k) * inner + i.
void check_softmax(index_t outer, index_t cols, index_t inner, bool log) {
  const index_t n = outer * cols * inner;
  std::vector<float> x = random_floats(n, 61);
  for (float& v : x) v *= 10.0f;
  const std::vector<float> dy = random_floats(n, 62);
  std::vector<float> y_want(n);
  for (index_t o = 0; o < outer; ++o)
    for (index_t i = 0; i < inner; ++i) {
      auto at = [&](index_t k) { return (o * cols + k) * inner + i; };
      double m = -INFINITY, s = 0;
      for (index_t k = 0; k < cols; ++k) m = std::fmax(m, x[at(k)]);
      for (index_t k = 0; k < cols; ++k) s += std::exp(x[at(k)] - m);
      for (index_t k = 0; k < cols; ++k)
        y_want[at(k)] = static_cast<float>(log ? x[at(k)] - m - std::log(s) : std::exp(x[at(k)] - m) / s);
    }
  DeviceGuarded<float> xd(x), yd(n), dyd(dy), dxd(n);
  kiln::cuda::softmax_forward(outer, cols, inner, xd.get(), yd.get(), log);
  const std::vector<float> y = yd.download();
  char what[96];
  std::snprintf(what, sizeof what, "softmax (%lld, %lld, %lld) log=%d", static_cast<long long>(outer),
                static_cast<long long>(cols), static_cast<long long>(inner), log);
  // Sums of cols rounded terms: a relative error of about cols float32 epsilons at most.
  const double tol = (8 + static_cast<double>(cols) / 8) * FLT_EPSILON;
  CHECK(close(y, y_want, tol, log ? tol * 10 : 1e-9, what));
  CHECK(yd.intact());
  if (inner == 1) {  // the CPU's last-axis kernel
    std::vector<float> y_cpu(n);
    kiln::softmax_forward(outer, cols, x.data(), y_cpu.data(), log);
    CHECK(close(y, y_cpu, tol, log ? tol * 10 : 1e-9, what));
  }

  std::vector<float> dx_want(n);
  for (index_t o = 0; o < outer; ++o)
    for (index_t i = 0; i < inner; ++i) {
      auto at = [&](index_t k) { return (o * cols + k) * inner + i; };
      double s = 0, scale = 0;
      for (index_t k = 0; k < cols; ++k) s += log ? dy[at(k)] : static_cast<double>(dy[at(k)]) * y[at(k)];
      for (index_t k = 0; k < cols; ++k) {
        const double v = log ? dy[at(k)] - std::exp(static_cast<double>(y[at(k)])) * s : y[at(k)] * (dy[at(k)] - s);
        dx_want[at(k)] = static_cast<float>(v);
        scale = std::fmax(scale, std::fabs(log ? s : dy[at(k)]));
      }
    }
  kiln::cuda::softmax_backward(outer, cols, inner, yd.get(), dyd.get(), dxd.get(), log);
  CHECK(close(dxd.download(), dx_want, tol, tol * 4, what));
  CHECK(dxd.intact());

  // In place.
  kiln::cuda::softmax_forward(outer, cols, inner, xd.get(), xd.get(), log);
  CHECK(same_bits(xd.download(), y));
}

}  // namespace

int main() {
  if (!cuda_device_present()) return kSkipped;
  int cases = 0;
  for (Activation act : {Activation::none, Activation::relu, Activation::sigmoid, Activation::tanh,
                         Activation::gelu, Activation::gelu_tanh})
    for (index_t n : {1, 3, 4, 1001})
      for (std::size_t shift : {0, 1}) {
        check_activation(act, n, shift);
        ++cases;
      }
  for (bool log : {false, true}) {
    check_softmax(37, 10, 1, log);    // a warp per row
    check_softmax(3, 33, 1, log);     // more columns than lanes
    check_softmax(2, 1500, 1, log);   // a block per row, float4s
    check_softmax(2, 1030, 1, log);   // a block per row, floats
    check_softmax(5, 64, 1, log);     // a warp per row, float4s
    check_softmax(3, 5, 7, log);      // a middle axis
    check_softmax(1, 9, 40, log);     // the first axis of (9, 40)
    check_softmax(1, 1, 1, log);
    cases += 8;
  }
  // Checks before anything runs.
  CHECK(!invalid_argument_of([] { kiln::cuda::activation_backward(Activation::sigmoid, 4, nullptr, nullptr, nullptr, nullptr); })
             .empty());
  CHECK(!invalid_argument_of([] { kiln::cuda::softmax_forward(-1, 3, 1, nullptr, nullptr, false); }).empty());
  kiln::cuda::softmax_forward(0, 3, 1, nullptr, nullptr, false);  // empty: nothing
  cases += 2;
  CUDA_OK(cudaDeviceSynchronize());
  std::printf("%d cases: %s\n", cases, failures() ? "FAILED" : "ok");
  return failures();
}
