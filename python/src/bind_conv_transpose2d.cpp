// kiln._C: conv_transpose2d_forward / conv_transpose2d_backward (kiln/conv_transpose2d.hpp).
#include <pybind11/stl.h>

#include <string>
#include <utility>

#include "arrays.hpp"
#include "bindings.hpp"
#include "image_args.hpp"
#include "kiln/conv_transpose2d.hpp"

namespace kiln::bind {
namespace {

using Pair = std::pair<index_t, index_t>;

// Params from x (N, Cin, H, W), weight (Cin, Cout/groups, R, S) and the hyper-parameters,
// checked by the library (std::invalid_argument -> ValueError).
ConvTranspose2dParams transpose_params(const char* fn, const py::array& x, const py::array& weight, Pair stride,
                                       Pair padding, Pair output_padding, Pair dilation, index_t groups) {
  if (weight.shape(0) != x.shape(1)) {
    throw py::value_error(std::string(fn) + ": weight " + shape_str(weight) + " has " +
                          std::to_string(weight.shape(0)) + " input channels, x " + shape_str(x) + " has " +
                          std::to_string(x.shape(1)));
  }
  ConvTranspose2dParams p;
  p.n = x.shape(0), p.c = x.shape(1), p.h = x.shape(2), p.w = x.shape(3);
  p.k = weight.shape(1) * groups, p.r = weight.shape(2), p.s = weight.shape(3);
  std::tie(p.stride_h, p.stride_w) = stride;
  std::tie(p.pad_h, p.pad_w) = padding;
  std::tie(p.output_pad_h, p.output_pad_w) = output_padding;
  std::tie(p.dilation_h, p.dilation_w) = dilation;
  p.groups = groups;
  conv_transpose2d_check(p);
  return p;
}

void forward_binding(py::handle x_obj, py::handle weight_obj, py::handle bias_obj, py::handle out_obj, Pair stride,
                     Pair padding, Pair output_padding, Pair dilation, index_t groups) {
  constexpr const char* fn = "conv_transpose2d_forward";
  py::array x = image_batch(fn, "x", x_obj);
  py::array weight = image_batch(fn, "weight", weight_obj);
  py::array bias = optional_float32_array(fn, "bias", bias_obj);
  const ConvTranspose2dParams p = transpose_params(fn, x, weight, stride, padding, output_padding, dilation, groups);
  if (bias) {
    require_shape(fn, "bias", bias, {p.k});
    require_c_contiguous(fn, "bias", bias);
  }
  py::array out = float32_array(fn, "out", out_obj);
  require_output(fn, "out", out, {p.n, p.k, p.out_h(), p.out_w()});
  require_no_overlap(fn, "out", out, {{"x", &x}, {"weight", &weight}, {"bias", &bias}});
  const float* x_ptr = f32_data(x);
  const float* w_ptr = f32_data(weight);
  const float* b_ptr = f32_data(bias);
  float* y_ptr = f32_mutable_data(out);
  py::gil_scoped_release release;
  conv_transpose2d_forward(p, x_ptr, w_ptr, b_ptr, y_ptr);
}

void backward_binding(py::handle x_obj, py::handle weight_obj, py::handle grad_y_obj, py::handle grad_x_obj,
                      py::handle grad_weight_obj, py::handle grad_bias_obj, Pair stride, Pair padding,
                      Pair output_padding, Pair dilation, index_t groups) {
  constexpr const char* fn = "conv_transpose2d_backward";
  py::array x = image_batch(fn, "x", x_obj);
  py::array weight = image_batch(fn, "weight", weight_obj);
  py::array grad_y = image_batch(fn, "grad_y", grad_y_obj);
  const ConvTranspose2dParams p = transpose_params(fn, x, weight, stride, padding, output_padding, dilation, groups);
  require_shape(fn, "grad_y", grad_y, {p.n, p.k, p.out_h(), p.out_w()});
  ConvGradients g = conv_gradients(fn, grad_x_obj, grad_weight_obj, grad_bias_obj, {p.n, p.c, p.h, p.w},
                                   {p.c, p.k / p.groups, p.r, p.s}, p.k,
                                   {{"x", &x}, {"weight", &weight}, {"grad_y", &grad_y}});
  const float* x_ptr = f32_data(x);
  const float* w_ptr = f32_data(weight);
  const float* dy_ptr = f32_data(grad_y);
  float* dx_ptr = f32_mutable_data(g.x);
  float* dw_ptr = f32_mutable_data(g.weight);
  float* db_ptr = f32_mutable_data(g.bias);
  py::gil_scoped_release release;
  conv_transpose2d_backward(p, x_ptr, w_ptr, dy_ptr, dx_ptr, dw_ptr, db_ptr);
}

}  // namespace

void bind_conv_transpose2d(py::module_& m) {
  m.def("conv_transpose2d_forward", &forward_binding, py::arg("x"), py::arg("weight"), py::arg("bias"),
        py::arg("out"), py::arg("stride"), py::arg("padding"), py::arg("output_padding"), py::arg("dilation"),
        py::arg("groups"),
        "out = conv_transpose2d(x, weight) + bias, written in place. x: (N, Cin, H, W); weight:\n"
        "(Cin, Cout/groups, R, S); bias: (Cout,) or None; out: (N, Cout, OH, OW). All float32, C-contiguous.");
  m.def("conv_transpose2d_backward", &backward_binding, py::arg("x"), py::arg("weight"), py::arg("grad_y"),
        py::arg("grad_x"), py::arg("grad_weight"), py::arg("grad_bias"), py::arg("stride"), py::arg("padding"),
        py::arg("output_padding"), py::arg("dilation"), py::arg("groups"),
        "The gradients of conv_transpose2d_forward given grad_y (N, Cout, OH, OW), written in place into\n"
        "grad_x (N, Cin, H, W), grad_weight (Cin, Cout/groups, R, S) and grad_bias (Cout,); each may be None.");
}

}  // namespace kiln::bind
