// The tape node of relu, sigmoid and tanh: dx = dy * act'(.), one kiln::activation_backward
// call. relu's derivative reads the input, sigmoid's and tanh's the output, so the node
// saves whichever its activation needs.
#include "activation_arg.hpp"
#include "arrays.hpp"
#include "kiln/activation.hpp"
#include "node_args.hpp"
#include "nodes.hpp"

namespace kiln::nodes {
namespace {

constexpr const char* kFn = "activation_node";

class ActivationNode final : public Node {
 public:
  ActivationNode(std::vector<Edge> edges, Activation act, py::array saved)
      : Node(std::move(edges), 1), act_(act), saved_(std::move(saved)) {}

 private:
  std::vector<py::object> backward(std::vector<py::object>& grads) override {
    std::vector<py::object> out(1);
    if (!edges[0]) return out;
    const py::array saved_ref = saved_;  // ours while the GIL is released (see LinearNode)
    py::array dy = grad_f32("ActivationNode", grads[0]);
    const std::vector<index_t> shape = shape_of(saved_ref);
    require_shape("ActivationNode", "the gradient", dy, shape);
    py::array dx = py::array_t<float>(shape);
    const bool reads_input = act_ == Activation::relu;
    const float* saved = bind::f32_data(saved_ref);
    const float* dy_ptr = bind::f32_data(dy);
    float* dx_ptr = bind::f32_mutable_data(dx);
    {
      py::gil_scoped_release release;
      activation_backward(act_, static_cast<index_t>(dx.size()), reads_input ? saved : nullptr,
                          reads_input ? nullptr : saved, dy_ptr, dx_ptr);
    }
    out[0] = std::move(dx);
    return out;
  }

  void release_saved() override { saved_ = null_array(); }

  Activation act_;
  py::array saved_;
};

py::object activation_node(py::handle edges_obj, py::handle activation, py::handle saved_obj) {
  py::array saved = saved_f32(saved_obj);
  if (!saved) return py::none();
  std::vector<Edge> edges = node_edges(kFn, edges_obj, {1});
  const Activation act = bind::parse_activation(kFn, activation);
  if (act != Activation::relu && act != Activation::sigmoid && act != Activation::tanh)
    throw py::value_error(std::string(kFn) + ": activation must be 'relu', 'sigmoid' or 'tanh'");
  return wrap(std::make_unique<ActivationNode>(std::move(edges), act, std::move(saved)));
}

// (y, node or None) for relu, sigmoid or tanh of x (any shape) in one call; None, doing
// nothing, unless x is float32 C-contiguous.
py::object activation_op(py::handle edges_obj, py::handle activation, py::handle x_obj) {
  if (!plain_f32(x_obj) || !py::isinstance<py::str>(activation)) return py::none();
  const std::string name = activation.cast<std::string>();
  Activation act;
  if (name == "relu") act = Activation::relu;
  else if (name == "sigmoid") act = Activation::sigmoid;
  else if (name == "tanh") act = Activation::tanh;
  else return py::none();
  py::array x = py::reinterpret_borrow<py::array>(x_obj);
  py::array y = py::array_t<float>(shape_of(x));
  const float* x_ptr = bind::f32_data(x);
  float* y_ptr = bind::f32_mutable_data(y);
  {
    py::gil_scoped_release release;
    activation_forward(act, static_cast<index_t>(x.size()), x_ptr, y_ptr);
  }
  if (edges_obj.is_none()) return py::make_tuple(y, py::none());
  auto node = std::make_unique<ActivationNode>(node_edges("activation_op", edges_obj, {1}), act,
                                               act == Activation::relu ? x : y);
  return py::make_tuple(y, wrap(std::move(node)));
}

}  // namespace

void bind_activation_node(py::module_& m) {
  bind_node_class<ActivationNode>(m, "ActivationNode", "Backward of relu, sigmoid or tanh (activation_node).");
  m.def("activation_node", &activation_node, py::arg("edges"), py::arg("activation"), py::arg("saved"),
        "The tape node of relu, sigmoid or tanh: edges (x,); saved the input for relu, the\n"
        "output for sigmoid and tanh. None when saved is not float32.");
  m.def("activation_op", &activation_op, py::arg("edges"), py::arg("activation"), py::arg("x"),
        "(y, node or None) for relu, sigmoid or tanh of x, forward and node in one call (no node\n"
        "when edges is None); None, doing nothing, unless x is float32 C-contiguous.");
}

}  // namespace kiln::nodes
