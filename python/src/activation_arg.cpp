#include "activation_arg.hpp"

#include <string>

namespace kiln::bind {

Activation parse_activation(const char* fn, pybind11::handle name) {
  namespace py = pybind11;
  if (name.is_none()) return Activation::none;
  if (!py::isinstance<py::str>(name)) {
    throw py::type_error(std::string(fn) + ": activation must be a str or None");
  }
  const std::string s = name.cast<std::string>();
  for (Activation a : {Activation::none, Activation::relu, Activation::sigmoid, Activation::tanh,
                       Activation::gelu, Activation::gelu_tanh}) {
    if (s == activation_name(a)) return a;
  }
  throw py::value_error(std::string(fn) + ": unknown activation '" + s +
                        "' (expected None, 'relu', 'sigmoid', 'tanh', 'gelu' or 'gelu_tanh')");
}

}  // namespace kiln::bind
