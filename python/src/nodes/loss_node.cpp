// The tape node of a loss whose kernel already wrote d loss / d input for a loss of 1
// (softmax cross-entropy, BCE with logits, MSE compute loss and gradient in one pass): the
// backward only scales that gradient by the incoming scalar gradient times `scale` (the
// reduction's factor), and hands it on as it is when that factor is exactly 1 (a loss at
// the root), with no copy.
#include <cstdint>

#include "arrays.hpp"
#include "kiln/loss.hpp"
#include "node_args.hpp"
#include "nodes.hpp"

namespace kiln::nodes {
namespace {

constexpr const char* kFn = "scaled_grad_node";

class ScaledGradNode final : public Node {
 public:
  ScaledGradNode(std::vector<Edge> edges, py::array grad, double scale)
      : Node(std::move(edges), 1), grad_(std::move(grad)), scale_(scale) {}

 private:
  std::vector<py::object> backward(std::vector<py::object>& grads) override {
    std::vector<py::object> out(1);
    if (!edges[0]) return out;
    PyObject* incoming = PyNumber_Float(grads[0].ptr());
    if (!incoming) throw py::error_already_set();
    const double factor = PyFloat_AS_DOUBLE(incoming) * scale_;
    Py_DECREF(incoming);
    if (factor == 1.0) {
      out[0] = grad_;
      return out;
    }
    // As NumPy computes grad * factor for a float32 array and a Python float: in float32.
    py::array scaled = py::array_t<float>(shape_of(grad_));
    const float f = static_cast<float>(factor);
    const float* src = bind::f32_data(grad_);
    float* dst = bind::f32_mutable_data(scaled);
    for (index_t i = 0, n = static_cast<index_t>(grad_.size()); i < n; ++i) dst[i] = src[i] * f;
    out[0] = std::move(scaled);
    return out;
  }

  void release_saved() override { grad_ = null_array(); }

  py::array grad_;
  double scale_;
};

py::object scaled_grad_node(py::handle edges_obj, py::handle grad_obj, double scale) {
  py::array grad = saved_f32(grad_obj);
  if (!grad) return py::none();
  return wrap(std::make_unique<ScaledGradNode>(node_edges(kFn, edges_obj, {1}), std::move(grad), scale));
}

// (loss * scale as a 0-D float32 array, node or None) for the softmax cross-entropy of logits
// (N, C) at class indices target (N,) int64, in one call: the kernel writes the gradient the
// node keeps. None, doing nothing, for other dtypes, layouts or shapes (probability targets).
py::object cross_entropy_op(py::handle edges_obj, py::handle logits_obj, py::handle target_obj,
                            std::int64_t ignore_index, float label_smoothing, double scale) {
  if (!plain_f32(logits_obj) || !py::isinstance<py::array_t<std::int64_t>>(target_obj)) return py::none();
  py::array z = py::reinterpret_borrow<py::array>(logits_obj);
  py::array t = py::reinterpret_borrow<py::array>(target_obj);
  if (z.ndim() != 2 || z.shape(1) < 1 || t.ndim() != 1 || t.shape(0) != z.shape(0) ||
      !(t.flags() & py::array::c_style))
    return py::none();
  CrossEntropyParams p;
  p.rows = z.shape(0);
  p.classes = z.shape(1);
  p.ignore_index = ignore_index;
  p.label_smoothing = label_smoothing;
  py::array grad = py::array_t<float>({p.rows, p.classes});
  const float* z_ptr = bind::f32_data(z);
  const auto* t_ptr = static_cast<const std::int64_t*>(t.data());
  float* g_ptr = bind::f32_mutable_data(grad);
  float loss = 0.0f;
  {
    py::gil_scoped_release release;
    softmax_cross_entropy(p, z_ptr, t_ptr, &loss, g_ptr);
  }
  py::array_t<float> value(std::vector<index_t>{});
  *value.mutable_data() = static_cast<float>(static_cast<double>(loss) * scale);  // as NumPy rounds it
  if (edges_obj.is_none()) return py::make_tuple(value, py::none());
  auto node = std::make_unique<ScaledGradNode>(node_edges("cross_entropy_op", edges_obj, {1}), grad, scale);
  return py::make_tuple(value, wrap(std::move(node)));
}

}  // namespace

void bind_loss_node(py::module_& m) {
  bind_node_class<ScaledGradNode>(m, "ScaledGradNode", "Backward of a fused loss (scaled_grad_node).");
  m.def("scaled_grad_node", &scaled_grad_node, py::arg("edges"), py::arg("grad"), py::arg("scale"),
        "The tape node of a loss whose kernel wrote grad = d loss / d input for a loss of 1:\n"
        "edges (x,); the backward returns grad * (incoming scalar gradient) * scale, grad itself\n"
        "when that factor is exactly 1. None when grad is not float32.");
  m.def("cross_entropy_op", &cross_entropy_op, py::arg("edges"), py::arg("logits"), py::arg("target"),
        py::arg("ignore_index"), py::arg("label_smoothing"), py::arg("scale"),
        "(loss * scale as a 0-D float32 array, node or None) for softmax cross-entropy at int64\n"
        "class indices, forward and node in one call; None, doing nothing, unless logits are a\n"
        "float32 C-contiguous (N, C) and target an (N,) int64 array.");
}

}  // namespace kiln::nodes
