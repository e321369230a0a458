// kiln._C: adaptive average and max pooling (kiln/adaptive_pool2d.hpp). The max's backward
// is max_pool2d_backward's scatter (bind_pool2d.cpp): the indices carry everything it needs.
#include <pybind11/stl.h>

#include <cstdint>
#include <utility>

#include "arrays.hpp"
#include "bindings.hpp"
#include "image_args.hpp"
#include "kiln/adaptive_pool2d.hpp"

namespace kiln::bind {
namespace {

AdaptivePool2dParams params_of(const py::array& x_or_dx, index_t out_h, index_t out_w) {
  AdaptivePool2dParams p;
  p.n = x_or_dx.shape(0), p.c = x_or_dx.shape(1), p.h = x_or_dx.shape(2), p.w = x_or_dx.shape(3);
  p.out_h = out_h, p.out_w = out_w;
  adaptive_pool2d_check(p);
  return p;
}

void avg_forward_binding(py::handle x_obj, py::handle out_obj) {
  constexpr const char* fn = "adaptive_avg_pool2d_forward";
  py::array x = image_batch(fn, "x", x_obj);
  py::array out = image_batch(fn, "out", out_obj);
  const AdaptivePool2dParams p = params_of(x, out.shape(2), out.shape(3));
  require_output(fn, "out", out, {p.n, p.c, p.out_h, p.out_w});
  require_no_overlap(fn, "out", out, {{"x", &x}});
  const float* x_ptr = f32_data(x);
  float* y_ptr = f32_mutable_data(out);
  py::gil_scoped_release release;
  adaptive_avg_pool2d_forward(p, x_ptr, y_ptr);
}

void avg_backward_binding(py::handle grad_y_obj, py::handle grad_x_obj) {
  constexpr const char* fn = "adaptive_avg_pool2d_backward";
  py::array grad_y = image_batch(fn, "grad_y", grad_y_obj);
  py::array grad_x = image_batch(fn, "grad_x", grad_x_obj);
  const AdaptivePool2dParams p = params_of(grad_x, grad_y.shape(2), grad_y.shape(3));
  require_output(fn, "grad_x", grad_x, {grad_y.shape(0), grad_y.shape(1), p.h, p.w});
  require_no_overlap(fn, "grad_x", grad_x, {{"grad_y", &grad_y}});
  const float* dy_ptr = f32_data(grad_y);
  float* dx_ptr = f32_mutable_data(grad_x);
  py::gil_scoped_release release;
  adaptive_avg_pool2d_backward(p, dy_ptr, dx_ptr);
}

void max_forward_binding(py::handle x_obj, py::handle out_obj, py::handle indices_obj) {
  constexpr const char* fn = "adaptive_max_pool2d_forward";
  py::array x = image_batch(fn, "x", x_obj);
  py::array out = image_batch(fn, "out", out_obj);
  const AdaptivePool2dParams p = params_of(x, out.shape(2), out.shape(3));
  const std::vector<index_t> y_shape{p.n, p.c, p.out_h, p.out_w};
  require_output(fn, "out", out, y_shape);
  require_no_overlap(fn, "out", out, {{"x", &x}});
  py::array indices = int64_array(fn, "indices", indices_obj);
  require_output(fn, "indices", indices, y_shape);
  require_no_overlap(fn, "indices", indices, {{"x", &x}, {"out", &out}});
  const float* x_ptr = f32_data(x);
  float* y_ptr = f32_mutable_data(out);
  auto* index_ptr = static_cast<std::int64_t*>(indices.mutable_data());
  py::gil_scoped_release release;
  adaptive_max_pool2d_forward(p, x_ptr, y_ptr, index_ptr);
}

}  // namespace

void bind_adaptive_pool2d(py::module_& m) {
  m.def("adaptive_avg_pool2d_forward", &avg_forward_binding, py::arg("x"), py::arg("out"),
        "out (N, C, OH, OW) = adaptive_avg_pool2d(x (N, C, H, W)), written in place; out's shape\n"
        "gives the output size. float32, C-contiguous.");
  m.def("adaptive_avg_pool2d_backward", &avg_backward_binding, py::arg("grad_y"), py::arg("grad_x"),
        "grad_x (N, C, H, W) = the gradient of adaptive_avg_pool2d given grad_y (N, C, OH, OW), in place.");
  m.def("adaptive_max_pool2d_forward", &max_forward_binding, py::arg("x"), py::arg("out"), py::arg("indices"),
        "out and indices (int64, h * W + w) = adaptive_max_pool2d(x), written in place.");
}

}  // namespace kiln::bind
