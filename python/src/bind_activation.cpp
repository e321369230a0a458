#include <string>

#include "activation_arg.hpp"
#include "arrays.hpp"
#include "bindings.hpp"
#include "kiln/activation.hpp"

namespace kiln::bind {
namespace {

std::vector<index_t> shape_of(const py::array& a) {
  return std::vector<index_t>(a.shape(), a.shape() + a.ndim());
}

py::array dense_input(const char* fn, const char* arg, py::handle obj, const py::array* like) {
  py::array a = float32_array(fn, arg, obj);
  if (like) require_shape(fn, arg, a, shape_of(*like));
  require_c_contiguous(fn, arg, a);
  return a;
}

// The output: float32, C-contiguous, writeable, the inputs' shape. It may be one of the
// inputs itself (in place), but may not overlap one partly.
py::array pointwise_output(const char* fn, py::handle obj, const py::array& like,
                           std::initializer_list<std::pair<const char*, const py::array*>> inputs) {
  py::array out = dense_input(fn, "out", obj, &like);
  require_writeable(fn, "out", out);
  for (const auto& input : inputs) {
    if (input.second->data() == out.data()) continue;  // same start, shape and layout: in place
    require_no_overlap(fn, "out", out, {input});
  }
  return out;
}

// Rows along the last axis: (size / last, last); a 0-D array is one row of one.
std::pair<index_t, index_t> rows_cols(const py::array& a) {
  const index_t cols = a.ndim() ? a.shape(a.ndim() - 1) : 1;
  return {cols ? a.size() / cols : 0, cols};
}

void activation_forward_binding(py::handle x_obj, py::handle out_obj, py::handle activation) {
  constexpr const char* kFn = "activation_forward";
  const Activation act = parse_activation(kFn, activation);
  py::array x = dense_input(kFn, "x", x_obj, nullptr);
  py::array out = pointwise_output(kFn, out_obj, x, {{"x", &x}});
  const index_t n = x.size();
  const float* xp = f32_data(x);
  float* yp = f32_mutable_data(out);
  py::gil_scoped_release release;
  activation_forward(act, n, xp, yp);
}

void activation_backward_binding(py::handle grad_y_obj, py::handle saved_obj, py::handle out_obj,
                                 py::handle activation) {
  constexpr const char* kFn = "activation_backward";
  const Activation act = parse_activation(kFn, activation);
  const bool reads_input =
      act == Activation::relu || act == Activation::gelu || act == Activation::gelu_tanh;
  const char* saved_name = reads_input ? "x" : "y";
  py::array grad_y = dense_input(kFn, "grad_y", grad_y_obj, nullptr);
  py::array saved = dense_input(kFn, saved_name, saved_obj, &grad_y);
  py::array out = pointwise_output(kFn, out_obj, grad_y, {{"grad_y", &grad_y}, {saved_name, &saved}});
  const index_t n = grad_y.size();
  const float* x = reads_input ? f32_data(saved) : nullptr;
  const float* y = reads_input ? nullptr : f32_data(saved);
  const float* dy = f32_data(grad_y);
  float* dx = f32_mutable_data(out);
  py::gil_scoped_release release;
  activation_backward(act, n, x, y, dy, dx);
}

void softmax_forward_binding(py::handle x_obj, py::handle out_obj, bool log) {
  const char* fn = log ? "log_softmax" : "softmax";
  py::array x = dense_input(fn, "x", x_obj, nullptr);
  py::array out = pointwise_output(fn, out_obj, x, {{"x", &x}});
  const auto [rows, cols] = rows_cols(x);
  const float* xp = f32_data(x);
  float* yp = f32_mutable_data(out);
  py::gil_scoped_release release;
  softmax_forward(rows, cols, xp, yp, log);
}

void softmax_backward_binding(py::handle grad_y_obj, py::handle y_obj, py::handle out_obj,
                              bool log) {
  const char* fn = log ? "log_softmax_backward" : "softmax_backward";
  py::array grad_y = dense_input(fn, "grad_y", grad_y_obj, nullptr);
  py::array y = dense_input(fn, "y", y_obj, &grad_y);
  py::array out = pointwise_output(fn, out_obj, grad_y, {{"grad_y", &grad_y}, {"y", &y}});
  const auto [rows, cols] = rows_cols(grad_y);
  const float* yp = f32_data(y);
  const float* dy = f32_data(grad_y);
  float* dx = f32_mutable_data(out);
  py::gil_scoped_release release;
  softmax_backward(rows, cols, yp, dy, dx, log);
}

}  // namespace

void bind_activation(py::module_& m) {
  m.def("activation_forward", &activation_forward_binding, py::arg("x"), py::arg("out"),
        py::arg("activation"),
        "out = act(x), elementwise; x and out float32, C-contiguous, one shape (out may be x).");
  m.def("activation_backward", &activation_backward_binding, py::arg("grad_y"), py::arg("saved"),
        py::arg("out"), py::arg("activation"),
        "out = grad_y * act'(.): saved is the input x for relu/gelu/gelu_tanh, the output y\n"
        "for sigmoid/tanh; all one shape.");
  m.def("softmax_forward", &softmax_forward_binding, py::arg("x"), py::arg("out"),
        py::arg("log") = false, "Softmax (or log_softmax) over the last axis of x, into out.");
  m.def("softmax_backward", &softmax_backward_binding, py::arg("grad_y"), py::arg("y"),
        py::arg("out"), py::arg("log") = false,
        "Gradient of softmax (or log_softmax) over the last axis, from its output y, into out.");
}

}  // namespace kiln::bind
