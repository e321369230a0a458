#include "kiln/linear.hpp"

#include <stdexcept>
#include <string>

#include "kiln/activation.hpp"
#include "kiln/matmul.hpp"
#include "linear_check.hpp"

namespace kiln {

namespace detail {

void linear_backward_check(const LinearBackwardParams& p) {
  if (p.m < 0 || p.in_features < 0 || p.out_features < 0) {
    throw std::invalid_argument("linear_backward: negative size");
  }
  switch (p.activation) {
    case Activation::none:
    case Activation::relu:
    case Activation::sigmoid:
    case Activation::tanh:
      return;
    default:
      throw std::invalid_argument(std::string("linear_backward: activation ") +
                                  activation_name(p.activation) +
                                  " needs its input to differentiate; only none, relu, sigmoid "
                                  "and tanh are fused");
  }
}

}  // namespace detail

namespace {

// Column sums in row order, so the result does not depend on the thread count.
void sum_rows(index_t rows, index_t cols, const float* a, float* out) {
  for (index_t j = 0; j < cols; ++j) out[j] = 0.0f;
  for (index_t i = 0; i < rows; ++i) {
    const float* row = a + i * cols;
    for (index_t j = 0; j < cols; ++j) out[j] += row[j];
  }
}

}  // namespace

void linear_backward(const LinearBackwardParams& p, const float* x, const float* w, const float* y,
                     const float* dy, float* scratch, float* dx, float* dw, float* db) {
  detail::linear_backward_check(p);
  const index_t m = p.m, in = p.in_features, out = p.out_features;
  const float* dz = dy;
  if (p.activation != Activation::none) {
    // relu'(x) is (x > 0), which is (y > 0): y stands in for x.
    activation_backward(p.activation, m * out, y, y, dy, scratch);
    dz = scratch;
  }
  if (db) sum_rows(m, out, dz, db);
  if (dx) {  // dx (m, in) = dz (m, out) @ op(w)^T
    matmul(matmul_params(m, in, out, false, !p.weight_is_out_by_in), dz, w, nullptr, dx);
  }
  if (dw) {
    if (p.weight_is_out_by_in) {  // (out, in) = dz^T @ x
      matmul(matmul_params(out, in, m, true, false), dz, x, nullptr, dw);
    } else {  // (in, out) = x^T @ dz
      matmul(matmul_params(in, out, m, true, false), x, dz, nullptr, dw);
    }
  }
}

}  // namespace kiln
