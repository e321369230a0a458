#include "adam_params.hpp"
#include "arrays.hpp"
#include "bindings.hpp"
#include "kiln/adam.hpp"

namespace kiln::bind {
namespace {

constexpr const char* kFn = "adam_step";

// A state array the step updates in place: float32, C-contiguous, writeable, param's shape.
py::array state_array(const char* arg, py::handle obj, const py::array* param) {
  py::array a = float32_array(kFn, arg, obj);
  if (param) require_shape(kFn, arg, a, std::vector<index_t>(param->shape(), param->shape() + param->ndim()));
  require_c_contiguous(kFn, arg, a);
  require_writeable(kFn, arg, a);
  return a;
}

void adam_step_binding(py::handle param_obj, py::handle grad_obj, py::handle exp_avg_obj,
                       py::handle exp_avg_sq_obj, py::handle max_exp_avg_sq_obj, index_t step,
                       double lr, double beta1, double beta2, double eps, double weight_decay,
                       bool decoupled, bool amsgrad, bool maximize) {
  py::array param = state_array("param", param_obj, nullptr);
  py::array grad = float32_array(kFn, "grad", grad_obj);
  require_shape(kFn, "grad", grad, std::vector<index_t>(param.shape(), param.shape() + param.ndim()));
  require_c_contiguous(kFn, "grad", grad);
  py::array exp_avg = state_array("exp_avg", exp_avg_obj, &param);
  py::array exp_avg_sq = state_array("exp_avg_sq", exp_avg_sq_obj, &param);
  py::array max_exp_avg_sq;
  if (amsgrad) {
    if (max_exp_avg_sq_obj.is_none()) {
      throw py::value_error("adam_step: amsgrad=True needs max_exp_avg_sq");
    }
    max_exp_avg_sq = state_array("max_exp_avg_sq", max_exp_avg_sq_obj, &param);
  }
  require_no_overlap(kFn, "param", param,
                     {{"grad", &grad}, {"exp_avg", &exp_avg}, {"exp_avg_sq", &exp_avg_sq},
                      {"max_exp_avg_sq", &max_exp_avg_sq}});
  require_no_overlap(kFn, "exp_avg", exp_avg,
                     {{"grad", &grad}, {"exp_avg_sq", &exp_avg_sq}, {"max_exp_avg_sq", &max_exp_avg_sq}});
  require_no_overlap(kFn, "exp_avg_sq", exp_avg_sq, {{"grad", &grad}, {"max_exp_avg_sq", &max_exp_avg_sq}});
  if (max_exp_avg_sq) require_no_overlap(kFn, "max_exp_avg_sq", max_exp_avg_sq, {{"grad", &grad}});

  const AdamParams p =
      python_args::adam_params(step, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize);
  const index_t n = param.size();
  float* param_ptr = f32_mutable_data(param);
  const float* grad_ptr = f32_data(grad);
  float* exp_avg_ptr = f32_mutable_data(exp_avg);
  float* exp_avg_sq_ptr = f32_mutable_data(exp_avg_sq);
  float* max_ptr = f32_mutable_data(max_exp_avg_sq);
  py::gil_scoped_release release;
  adam_step(p, n, param_ptr, grad_ptr, exp_avg_ptr, exp_avg_sq_ptr, max_ptr);
}

}  // namespace

void bind_adam(py::module_& m) {
  m.def("adam_step", &adam_step_binding, py::arg("param"), py::arg("grad"), py::arg("exp_avg"),
        py::arg("exp_avg_sq"), py::arg("max_exp_avg_sq"), py::arg("step"), py::arg("lr"),
        py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("decoupled"), py::arg("amsgrad"), py::arg("maximize"),
        "One Adam/AdamW step, in place. param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq:\n"
        "float32, C-contiguous, one shape; max_exp_avg_sq is used (and required) with amsgrad.");
}

}  // namespace kiln::bind
