#include "activation_arg.hpp"
#include "arrays.hpp"
#include "bindings.hpp"
#include "kiln/linear.hpp"

namespace kiln::bind {
namespace {

constexpr const char* kFn = "linear_backward";

py::array matrix(const char* arg, py::handle obj, index_t rows, index_t cols) {
  py::array a = float32_array(kFn, arg, obj);
  require_shape(kFn, arg, a, {rows, cols});
  require_c_contiguous(kFn, arg, a);
  return a;
}

py::array output(const char* arg, py::handle obj, const std::vector<index_t>& shape) {
  py::array a = optional_float32_array(kFn, arg, obj);
  if (!a) return a;
  require_shape(kFn, arg, a, shape);
  require_c_contiguous(kFn, arg, a);
  require_writeable(kFn, arg, a);
  return a;
}

void linear_backward_binding(py::handle x_obj, py::handle w_obj, py::handle y_obj,
                             py::handle dy_obj, py::handle dx_obj, py::handle dw_obj,
                             py::handle db_obj, bool weight_is_out_by_in, py::handle activation) {
  py::array x = float32_array(kFn, "x", x_obj);
  py::array w = float32_array(kFn, "w", w_obj);
  require_ndim(kFn, "x", x, {2});
  require_ndim(kFn, "w", w, {2});
  LinearBackwardParams p;
  p.m = x.shape(0);
  p.in_features = x.shape(1);
  p.out_features = weight_is_out_by_in ? w.shape(0) : w.shape(1);
  p.weight_is_out_by_in = weight_is_out_by_in;
  p.activation = parse_activation(kFn, activation);
  const index_t m = p.m, in = p.in_features, out = p.out_features;
  require_shape(kFn, "w", w, weight_is_out_by_in ? std::vector<index_t>{out, in}
                                                 : std::vector<index_t>{in, out});
  require_c_contiguous(kFn, "x", x);
  require_c_contiguous(kFn, "w", w);
  py::array y = matrix("y", y_obj, m, out);
  py::array dy = matrix("dy", dy_obj, m, out);
  py::array dx = output("dx", dx_obj, {m, in});
  py::array dw = output("dw", dw_obj, weight_is_out_by_in ? std::vector<index_t>{out, in}
                                                          : std::vector<index_t>{in, out});
  py::array db = output("db", db_obj, {out});
  if (dx) require_no_overlap(kFn, "dx", dx, {{"x", &x}, {"w", &w}, {"y", &y}, {"dy", &dy}, {"dw", &dw}, {"db", &db}});
  if (dw) require_no_overlap(kFn, "dw", dw, {{"x", &x}, {"w", &w}, {"y", &y}, {"dy", &dy}, {"db", &db}});
  if (db) require_no_overlap(kFn, "db", db, {{"x", &x}, {"w", &w}, {"y", &y}, {"dy", &dy}});
  // The activation's derivative needs a (m, out) buffer; dy stays untouched.
  py::array scratch;
  if (p.activation != Activation::none) scratch = py::array_t<float>({m, out});
  const float* x_ptr = f32_data(x);
  const float* w_ptr = f32_data(w);
  const float* y_ptr = f32_data(y);
  const float* dy_ptr = f32_data(dy);
  float* scratch_ptr = f32_mutable_data(scratch);
  float* dx_ptr = f32_mutable_data(dx);
  float* dw_ptr = f32_mutable_data(dw);
  float* db_ptr = f32_mutable_data(db);
  py::gil_scoped_release release;
  linear_backward(p, x_ptr, w_ptr, y_ptr, dy_ptr, scratch_ptr, dx_ptr, dw_ptr, db_ptr);
}

}  // namespace

void bind_linear(py::module_& m) {
  m.def("linear_backward", &linear_backward_binding, py::arg("x"), py::arg("w"), py::arg("y"),
        py::arg("dy"), py::arg("dx"), py::arg("dw"), py::arg("db"), py::arg("weight_is_out_by_in"),
        py::arg("activation") = py::none(),
        "Backward of y = act(x @ op(w) + bias): x (m, in), w (out, in) or (in, out), y and dy\n"
        "(m, out); writes dx (m, in), dw (w's shape), db (out,) where given (None skips).");
}

}  // namespace kiln::bind
