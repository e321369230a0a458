#include "arrays.hpp"
#include "bindings.hpp"
#include "kiln/loss.hpp"

namespace kiln::bind {
namespace {

std::vector<index_t> shape_of(const py::array& a) {
  return std::vector<index_t>(a.shape(), a.shape() + a.ndim());
}

py::array dense_input(const char* fn, const char* arg, py::handle obj) {
  py::array a = float32_array(fn, arg, obj);
  require_c_contiguous(fn, arg, a);
  return a;
}

// The optional gradient output: float32, C-contiguous, writeable, shape of `like`, apart from inputs.
py::array grad_output(const char* fn, py::handle obj, const py::array& like,
                      std::initializer_list<std::pair<const char*, const py::array*>> inputs) {
  py::array grad = optional_float32_array(fn, "grad", obj);
  if (grad) {
    require_shape(fn, "grad", grad, shape_of(like));
    require_c_contiguous(fn, "grad", grad);
    require_writeable(fn, "grad", grad);
    require_no_overlap(fn, "grad", grad, inputs);
  }
  return grad;
}

float softmax_cross_entropy_binding(py::handle logits_obj, py::handle target_obj,
                                    py::handle grad_obj, std::int64_t ignore_index,
                                    float label_smoothing, float grad_scale) {
  constexpr const char* kFn = "softmax_cross_entropy";
  py::array logits = dense_input(kFn, "logits", logits_obj);
  require_ndim(kFn, "logits", logits, {2});
  CrossEntropyParams p;
  p.rows = logits.shape(0);
  p.classes = logits.shape(1);
  p.ignore_index = ignore_index;
  p.label_smoothing = label_smoothing;
  p.grad_scale = grad_scale;
  const bool class_indices = py::isinstance<py::array>(target_obj) &&
                             py::reinterpret_borrow<py::array>(target_obj).dtype().kind() == 'i';
  py::array target = class_indices ? int64_array(kFn, "target", target_obj)
                                   : float32_array(kFn, "target", target_obj);
  require_shape(kFn, "target", target,
                class_indices ? std::vector<index_t>{p.rows} : shape_of(logits));
  require_c_contiguous(kFn, "target", target);
  py::array grad = grad_output(kFn, grad_obj, logits, {{"logits", &logits}, {"target", &target}});
  const float* z = f32_data(logits);
  float* g = f32_mutable_data(grad);
  float loss = 0.0f;
  if (class_indices) {
    const auto* t = static_cast<const std::int64_t*>(target.data());
    py::gil_scoped_release release;
    softmax_cross_entropy(p, z, t, &loss, g);
  } else {
    const float* t = f32_data(target);
    py::gil_scoped_release release;
    softmax_cross_entropy_probs(p, z, t, &loss, g);
  }
  return loss;
}

float bce_with_logits_binding(py::handle logits_obj, py::handle target_obj,
                              py::handle pos_weight_obj, py::handle grad_obj, float grad_scale) {
  constexpr const char* kFn = "bce_with_logits";
  py::array logits = dense_input(kFn, "logits", logits_obj);
  py::array target = dense_input(kFn, "target", target_obj);
  require_shape(kFn, "target", target, shape_of(logits));
  const index_t cols = logits.ndim() ? logits.shape(logits.ndim() - 1) : 1;
  const index_t rows = cols ? logits.size() / cols : 0;
  py::array pos_weight = optional_float32_array(kFn, "pos_weight", pos_weight_obj);
  if (pos_weight) {
    require_shape(kFn, "pos_weight", pos_weight, {cols});
    require_c_contiguous(kFn, "pos_weight", pos_weight);
  }
  py::array grad = grad_output(kFn, grad_obj, logits,
                               {{"logits", &logits}, {"target", &target}, {"pos_weight", &pos_weight}});
  const float* x = f32_data(logits);
  const float* y = f32_data(target);
  const float* w = f32_data(pos_weight);
  float* g = f32_mutable_data(grad);
  float loss = 0.0f;
  py::gil_scoped_release release;
  bce_with_logits(rows, cols, x, y, w, grad_scale, &loss, g);
  return loss;
}

float mse_binding(py::handle pred_obj, py::handle target_obj, py::handle grad_obj,
                  float grad_scale) {
  constexpr const char* kFn = "mse";
  py::array pred = dense_input(kFn, "pred", pred_obj);
  py::array target = dense_input(kFn, "target", target_obj);
  require_shape(kFn, "target", target, shape_of(pred));
  py::array grad = grad_output(kFn, grad_obj, pred, {{"pred", &pred}, {"target", &target}});
  const index_t n = pred.size();
  const float* x = f32_data(pred);
  const float* y = f32_data(target);
  float* g = f32_mutable_data(grad);
  float loss = 0.0f;
  py::gil_scoped_release release;
  mse(n, x, y, grad_scale, &loss, g);
  return loss;
}

}  // namespace

void bind_loss(py::module_& m) {
  m.def("softmax_cross_entropy", &softmax_cross_entropy_binding, py::arg("logits"),
        py::arg("target"), py::arg("grad") = py::none(), py::arg("ignore_index") = -100,
        py::arg("label_smoothing") = 0.0f, py::arg("grad_scale") = 1.0f,
        "Mean cross-entropy of softmax(logits (N, C)) against target: int64 class indices (N,)\n"
        "or float32 probabilities (N, C). Returns the loss; writes grad (N, C) when given.");
  m.def("bce_with_logits", &bce_with_logits_binding, py::arg("logits"), py::arg("target"),
        py::arg("pos_weight") = py::none(), py::arg("grad") = py::none(),
        py::arg("grad_scale") = 1.0f,
        "Mean binary cross-entropy with logits; any shape, pos_weight over the last axis.\n"
        "Returns the loss; writes grad (the logits' shape) when given.");
  m.def("mse", &mse_binding, py::arg("pred"), py::arg("target"), py::arg("grad") = py::none(),
        py::arg("grad_scale") = 1.0f,
        "Mean squared error; any shape. Returns the loss; writes grad when given.");
}

}  // namespace kiln::bind
