// The tape node of a loss whose kernel already wrote d loss / d input for a loss of 1
// (softmax cross-entropy, BCE with logits, MSE compute loss and gradient in one pass): the
// backward only scales that gradient by the incoming scalar gradient times `scale` (the
// reduction's factor), and hands it on as it is when that factor is exactly 1 (a loss at
// the root), with no copy.
#include "arrays.hpp"
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

}  // namespace

void bind_loss_node(py::module_& m) {
  bind_node_class<ScaledGradNode>(m, "ScaledGradNode", "Backward of a fused loss (scaled_grad_node).");
  m.def("scaled_grad_node", &scaled_grad_node, py::arg("edges"), py::arg("grad"), py::arg("scale"),
        "The tape node of a loss whose kernel wrote grad = d loss / d input for a loss of 1:\n"
        "edges (x,); the backward returns grad * (incoming scalar gradient) * scale, grad itself\n"
        "when that factor is exactly 1. None when grad is not float32.");
}

}  // namespace kiln::nodes
