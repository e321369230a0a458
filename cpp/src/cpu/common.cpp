#include "check.hpp"

namespace kiln {

const char* activation_name(Activation act) {
  switch (act) {
    case Activation::none: return "none";
    case Activation::relu: return "relu";
    case Activation::sigmoid: return "sigmoid";
    case Activation::tanh: return "tanh";
    case Activation::gelu: return "gelu";
    case Activation::gelu_tanh: return "gelu_tanh";
  }
  return "unknown";
}

namespace detail {

index_t checked_mul(index_t a, index_t b, const char* kernel, const char* what) {
  KILN_CHECK(a >= 0 && b >= 0, kernel << ": " << what << " has a negative size");
  if (a == 0 || b == 0) return 0;
  KILN_CHECK(a <= kMaxElements / b, kernel << ": " << what << " has more than " << kMaxElements
                                           << " elements (" << a << " x " << b
                                           << " ...), kiln's limit per operand");
  return a * b;
}

void check_activation(Activation act, const char* kernel) {
  const int v = static_cast<int>(act);
  KILN_CHECK(v >= 0 && v <= static_cast<int>(Activation::gelu_tanh),
             kernel << ": unknown activation code " << v);
}

}  // namespace detail
}  // namespace kiln
