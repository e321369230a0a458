#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <utility>

#include "arrays.hpp"
#include "bindings.hpp"
#include "image_args.hpp"
#include "kiln/pool2d.hpp"

namespace kiln::bind {
namespace {

using Pair = std::pair<index_t, index_t>;

Pool2dParams pool_params(const py::array& x_or_dx, Pair kernel, Pair stride, Pair padding,
                         Pair dilation, bool ceil_mode) {
  Pool2dParams p;
  p.n = x_or_dx.shape(0);
  p.c = x_or_dx.shape(1);
  p.h = x_or_dx.shape(2);
  p.w = x_or_dx.shape(3);
  std::tie(p.kernel_h, p.kernel_w) = kernel;
  std::tie(p.stride_h, p.stride_w) = stride;
  std::tie(p.pad_h, p.pad_w) = padding;
  std::tie(p.dilation_h, p.dilation_w) = dilation;
  p.ceil_mode = ceil_mode;
  return p;
}

void max_pool2d_forward_binding(py::handle x_obj, py::handle out_obj, py::handle indices_obj,
                                Pair kernel, Pair stride, Pair padding, Pair dilation,
                                bool ceil_mode) {
  constexpr const char* fn = "max_pool2d_forward";
  py::array x = image_batch(fn, "x", x_obj);
  const Pool2dParams p = pool_params(x, kernel, stride, padding, dilation, ceil_mode);
  max_pool2d_check(p);
  const std::vector<index_t> y_shape{p.n, p.c, p.out_h(), p.out_w()};
  py::array out = float32_array(fn, "out", out_obj);
  require_output(fn, "out", out, y_shape);
  require_no_overlap(fn, "out", out, {{"x", &x}});
  // None: no indices wanted. (A default-constructed py::array is an empty array, not null.)
  py::array indices = py::reinterpret_borrow<py::array>(py::handle());
  if (!indices_obj.is_none()) {
    indices = int64_array(fn, "indices", indices_obj);
    require_output(fn, "indices", indices, y_shape);
    require_no_overlap(fn, "indices", indices, {{"x", &x}, {"out", &out}});
  }

  const float* x_ptr = f32_data(x);
  float* y_ptr = f32_mutable_data(out);
  std::int64_t* index_ptr = indices ? static_cast<std::int64_t*>(indices.mutable_data()) : nullptr;
  py::gil_scoped_release release;
  max_pool2d_forward(p, x_ptr, y_ptr, index_ptr);
}

void max_pool2d_backward_binding(py::handle grad_y_obj, py::handle indices_obj,
                                 py::handle grad_x_obj) {
  constexpr const char* fn = "max_pool2d_backward";
  py::array grad_y = image_batch(fn, "grad_y", grad_y_obj);
  py::array indices = int64_array(fn, "indices", indices_obj);
  require_shape(fn, "indices", indices, std::vector<index_t>(grad_y.shape(), grad_y.shape() + 4));
  require_c_contiguous(fn, "indices", indices);
  py::array grad_x = float32_array(fn, "grad_x", grad_x_obj);
  require_output(fn, "grad_x", grad_x, {grad_y.shape(0), grad_y.shape(1), -1, -1});
  require_no_overlap(fn, "grad_x", grad_x, {{"grad_y", &grad_y}, {"indices", &indices}});

  const index_t planes = grad_y.shape(0) * grad_y.shape(1);
  const index_t in_size = grad_x.shape(2) * grad_x.shape(3);
  const index_t out_size = grad_y.shape(2) * grad_y.shape(3);
  const float* dy_ptr = f32_data(grad_y);
  const auto* index_ptr = static_cast<const std::int64_t*>(indices.data());
  float* dx_ptr = f32_mutable_data(grad_x);
  py::gil_scoped_release release;
  max_pool2d_backward_scatter(planes, in_size, out_size, dy_ptr, index_ptr, dx_ptr);
}

void avg_pool2d_forward_binding(py::handle x_obj, py::handle out_obj, Pair kernel, Pair stride,
                                Pair padding, bool ceil_mode, bool count_include_pad,
                                index_t divisor_override) {
  constexpr const char* fn = "avg_pool2d_forward";
  py::array x = image_batch(fn, "x", x_obj);
  const Pool2dParams p = pool_params(x, kernel, stride, padding, {1, 1}, ceil_mode);
  avg_pool2d_check(p);
  py::array out = float32_array(fn, "out", out_obj);
  require_output(fn, "out", out, {p.n, p.c, p.out_h(), p.out_w()});
  require_no_overlap(fn, "out", out, {{"x", &x}});

  const float* x_ptr = f32_data(x);
  float* y_ptr = f32_mutable_data(out);
  py::gil_scoped_release release;
  avg_pool2d_forward(p, x_ptr, y_ptr, count_include_pad, divisor_override);
}

void avg_pool2d_backward_binding(py::handle grad_y_obj, py::handle grad_x_obj, Pair kernel,
                                 Pair stride, Pair padding, bool ceil_mode,
                                 bool count_include_pad, index_t divisor_override) {
  constexpr const char* fn = "avg_pool2d_backward";
  py::array grad_y = image_batch(fn, "grad_y", grad_y_obj);
  py::array grad_x = image_batch(fn, "grad_x", grad_x_obj);
  const Pool2dParams p = pool_params(grad_x, kernel, stride, padding, {1, 1}, ceil_mode);
  avg_pool2d_check(p);
  require_shape(fn, "grad_y", grad_y, {p.n, p.c, p.out_h(), p.out_w()});
  require_writeable(fn, "grad_x", grad_x);
  require_no_overlap(fn, "grad_x", grad_x, {{"grad_y", &grad_y}});

  const float* dy_ptr = f32_data(grad_y);
  float* dx_ptr = f32_mutable_data(grad_x);
  py::gil_scoped_release release;
  avg_pool2d_backward(p, dy_ptr, dx_ptr, count_include_pad, divisor_override);
}

}  // namespace

void bind_pool2d(py::module_& m) {
  m.def("max_pool2d_forward", &max_pool2d_forward_binding, py::arg("x"), py::arg("out"),
        py::arg("indices"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
        py::arg("dilation"), py::arg("ceil_mode"),
        "out (N, C, OH, OW) = max pooling of x (N, C, H, W), written in place; indices (int64,\n"
        "like out, or None) gets each maximum's flat position h * W + w in its plane.");
  m.def("max_pool2d_backward", &max_pool2d_backward_binding, py::arg("grad_y"),
        py::arg("indices"), py::arg("grad_x"),
        "grad_x (N, C, H, W) = 0, then grad_y (N, C, OH, OW) scattered to indices (int64, like\n"
        "grad_y) within each plane, summed.");
  m.def("avg_pool2d_forward", &avg_pool2d_forward_binding, py::arg("x"), py::arg("out"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("ceil_mode"),
        py::arg("count_include_pad"), py::arg("divisor_override"),
        "out (N, C, OH, OW) = average pooling of x (N, C, H, W), written in place;\n"
        "divisor_override 0 means none.");
  m.def("avg_pool2d_backward", &avg_pool2d_backward_binding, py::arg("grad_y"), py::arg("grad_x"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("ceil_mode"),
        py::arg("count_include_pad"), py::arg("divisor_override"),
        "grad_x (N, C, H, W) = the gradient of avg_pool2d_forward given grad_y (N, C, OH, OW).");
}

}  // namespace kiln::bind
