// kiln._C: layer norm and batch norm (kiln/norm.hpp). Inputs are float32 and C-contiguous
// (kiln/backends/cpu.py converts), outputs are written in place; None is a null pointer.
#include <cstdint>
#include <vector>

#include "arrays.hpp"
#include "bindings.hpp"
#include "image_args.hpp"
#include "kiln/norm.hpp"

namespace kiln::bind {
namespace {

py::array input(const char* fn, const char* arg, py::handle obj, const std::vector<index_t>& shape) {
  py::array a = float32_array(fn, arg, obj);
  require_shape(fn, arg, a, shape);
  require_c_contiguous(fn, arg, a);
  return a;
}

py::array optional_input(const char* fn, const char* arg, py::handle obj, const std::vector<index_t>& shape) {
  if (obj.is_none()) return py::reinterpret_borrow<py::array>(py::handle());
  return input(fn, arg, obj, shape);
}

py::array output(const char* fn, const char* arg, py::handle obj, const std::vector<index_t>& shape) {
  py::array a = float32_array(fn, arg, obj);
  require_output(fn, arg, a, shape);
  return a;
}

py::array optional_output(const char* fn, const char* arg, py::handle obj, const std::vector<index_t>& shape) {
  if (obj.is_none()) return py::reinterpret_borrow<py::array>(py::handle());
  return output(fn, arg, obj, shape);
}

void layer_norm_forward_binding(py::handle x_obj, py::handle weight_obj, py::handle bias_obj, py::handle y_obj,
                                py::handle mean_obj, py::handle rstd_obj, float eps) {
  constexpr const char* fn = "layer_norm_forward";
  py::array x = float32_array(fn, "x", x_obj);
  require_ndim(fn, "x", x, {2});
  require_c_contiguous(fn, "x", x);
  const index_t m = x.shape(0), n = x.shape(1);
  py::array w = optional_input(fn, "weight", weight_obj, {n}), b = optional_input(fn, "bias", bias_obj, {n});
  py::array y = output(fn, "y", y_obj, {m, n}), mean = output(fn, "mean", mean_obj, {m});
  py::array rstd = output(fn, "rstd", rstd_obj, {m});
  require_no_overlap(fn, "y", y, {{"x", &x}});
  LayerNormParams p{m, n, eps};
  layer_norm_check(fn, p);
  const float *xp = f32_data(x), *wp = f32_data(w), *bp = f32_data(b);
  float *yp = f32_mutable_data(y), *mp = f32_mutable_data(mean), *rp = f32_mutable_data(rstd);
  py::gil_scoped_release release;
  layer_norm_forward(p, xp, wp, bp, yp, mp, rp);
}

void layer_norm_backward_binding(py::handle dy_obj, py::handle x_obj, py::handle mean_obj, py::handle rstd_obj,
                                 py::handle weight_obj, py::handle dx_obj, py::handle dweight_obj,
                                 py::handle dbias_obj) {
  constexpr const char* fn = "layer_norm_backward";
  py::array x = float32_array(fn, "x", x_obj);
  require_ndim(fn, "x", x, {2});
  require_c_contiguous(fn, "x", x);
  const index_t m = x.shape(0), n = x.shape(1);
  py::array dy = input(fn, "dy", dy_obj, {m, n}), mean = input(fn, "mean", mean_obj, {m});
  py::array rstd = input(fn, "rstd", rstd_obj, {m}), w = optional_input(fn, "weight", weight_obj, {n});
  py::array dx = optional_output(fn, "dx", dx_obj, {m, n});
  py::array dw = optional_output(fn, "dweight", dweight_obj, {n}), db = optional_output(fn, "dbias", dbias_obj, {n});
  if (dx) require_no_overlap(fn, "dx", dx, {{"dy", &dy}, {"x", &x}});
  LayerNormParams p{m, n, 0.0f};
  const float *dyp = f32_data(dy), *xp = f32_data(x), *mp = f32_data(mean), *rp = f32_data(rstd), *wp = f32_data(w);
  float *dxp = f32_mutable_data(dx), *dwp = f32_mutable_data(dw), *dbp = f32_mutable_data(db);
  py::gil_scoped_release release;
  layer_norm_backward(p, dyp, xp, mp, rp, wp, dxp, dwp, dbp);
}

BatchNormParams batch_view(const char* fn, const py::array& x, float eps) {
  require_ndim(fn, "x", x, {3});
  require_c_contiguous(fn, "x", x);
  return BatchNormParams{x.shape(0), x.shape(1), x.shape(2), eps};
}

void batch_norm_forward_binding(py::handle x_obj, py::handle weight_obj, py::handle bias_obj,
                                py::handle running_mean_obj, py::handle running_var_obj, bool training, float eps,
                                py::handle y_obj, py::handle save_mean_obj, py::handle save_invstd_obj,
                                py::handle batch_var_obj) {
  constexpr const char* fn = "batch_norm_forward";
  py::array x = float32_array(fn, "x", x_obj);
  const BatchNormParams p = batch_view(fn, x, eps);
  const index_t c = p.channels;
  py::array w = optional_input(fn, "weight", weight_obj, {c}), b = optional_input(fn, "bias", bias_obj, {c});
  py::array rm = optional_input(fn, "running_mean", running_mean_obj, {c});
  py::array rv = optional_input(fn, "running_var", running_var_obj, {c});
  py::array y = output(fn, "y", y_obj, {p.outer, c, p.inner});
  py::array sm = output(fn, "save_mean", save_mean_obj, {c}), si = output(fn, "save_invstd", save_invstd_obj, {c});
  py::array bv = optional_output(fn, "batch_var", batch_var_obj, {c});
  require_no_overlap(fn, "y", y, {{"x", &x}});
  batch_norm_check(fn, p);
  const float *xp = f32_data(x), *wp = f32_data(w), *bp = f32_data(b), *rmp = f32_data(rm), *rvp = f32_data(rv);
  float *yp = f32_mutable_data(y), *smp = f32_mutable_data(sm), *sip = f32_mutable_data(si);
  float* bvp = f32_mutable_data(bv);
  py::gil_scoped_release release;
  batch_norm_forward(p, xp, wp, bp, rmp, rvp, training, yp, smp, sip, bvp);
}

void batch_norm_backward_binding(py::handle dy_obj, py::handle x_obj, py::handle save_mean_obj,
                                 py::handle save_invstd_obj, py::handle weight_obj, bool training,
                                 py::handle dx_obj, py::handle dweight_obj, py::handle dbias_obj) {
  constexpr const char* fn = "batch_norm_backward";
  py::array x = float32_array(fn, "x", x_obj);
  const BatchNormParams p = batch_view(fn, x, 0.0f);
  const index_t c = p.channels;
  py::array dy = input(fn, "dy", dy_obj, {p.outer, c, p.inner});
  py::array sm = input(fn, "save_mean", save_mean_obj, {c}), si = input(fn, "save_invstd", save_invstd_obj, {c});
  py::array w = optional_input(fn, "weight", weight_obj, {c});
  py::array dx = optional_output(fn, "dx", dx_obj, {p.outer, c, p.inner});
  py::array dw = optional_output(fn, "dweight", dweight_obj, {c}), db = optional_output(fn, "dbias", dbias_obj, {c});
  if (dx) require_no_overlap(fn, "dx", dx, {{"dy", &dy}, {"x", &x}});
  const float *dyp = f32_data(dy), *xp = f32_data(x), *smp = f32_data(sm), *sip = f32_data(si), *wp = f32_data(w);
  float *dxp = f32_mutable_data(dx), *dwp = f32_mutable_data(dw), *dbp = f32_mutable_data(db);
  py::gil_scoped_release release;
  batch_norm_backward(p, dyp, xp, smp, sip, wp, training, dxp, dwp, dbp);
}

}  // namespace

void bind_norm(py::module_& m) {
  m.def("layer_norm_forward", &layer_norm_forward_binding, py::arg("x"), py::arg("weight"), py::arg("bias"),
        py::arg("y"), py::arg("mean"), py::arg("rstd"), py::arg("eps"),
        "y, mean, rstd = layer_norm(x (M, N)) over each row, in place.");
  m.def("layer_norm_backward", &layer_norm_backward_binding, py::arg("dy"), py::arg("x"), py::arg("mean"),
        py::arg("rstd"), py::arg("weight"), py::arg("dx"), py::arg("dweight"), py::arg("dbias"),
        "dx, dweight, dbias of layer_norm (None outputs are skipped).");
  m.def("batch_norm_forward", &batch_norm_forward_binding, py::arg("x"), py::arg("weight"), py::arg("bias"),
        py::arg("running_mean"), py::arg("running_var"), py::arg("training"), py::arg("eps"), py::arg("y"),
        py::arg("save_mean"), py::arg("save_invstd"), py::arg("batch_var"),
        "y = batch_norm(x (outer, C, inner)), per-channel statistics saved, in place.");
  m.def("batch_norm_backward", &batch_norm_backward_binding, py::arg("dy"), py::arg("x"), py::arg("save_mean"),
        py::arg("save_invstd"), py::arg("weight"), py::arg("training"), py::arg("dx"), py::arg("dweight"),
        py::arg("dbias"), "dx, dweight, dbias of batch_norm (None outputs are skipped).");
}

}  // namespace kiln::bind
