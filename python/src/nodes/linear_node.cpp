// The tape node of a fully connected layer: y = act(x2 @ op(w) + bias), x2 = x as (m, in).
// Its backward is one kernel, kiln::linear_backward (the activation's derivative, dx, dw
// and db in one call), which keeps a small layer's backward in C++.
#include "activation_arg.hpp"
#include "kiln/linear.hpp"
#include "kiln/matmul.hpp"
#include "node_args.hpp"
#include "nodes.hpp"

namespace kiln::nodes {
namespace {

constexpr const char* kFn = "linear_node";

// edges (x, w[, bias]); x read as (m, in), y as (m, out) (C-contiguous, any shape of that
// size); dx comes back in input_shape.
class LinearNode final : public Node {
 public:
  LinearNode(std::vector<Edge> edges, py::array x, py::array w, py::array y,
             const LinearBackwardParams& p, std::vector<index_t> input_shape)
      : Node(std::move(edges), 1), x_(std::move(x)), w_(std::move(w)), y_(std::move(y)), p_(p),
        input_shape_(std::move(input_shape)), has_bias_(this->edges.size() == 3) {}

 private:
  std::vector<py::object> backward(std::vector<py::object>& grads) override {
    // Our own references for the kernel's duration (another thread may release the node while
    // the GIL is released), and what to compute, read before anything can run Python.
    const py::array x_ref = x_, w_ref = w_, y_ref = y_;
    const bool want_dx = static_cast<bool>(edges[0]), want_dw = static_cast<bool>(edges[1]);
    const bool want_db = has_bias_ && edges[2];
    py::array dy = grad_f32("LinearNode", grads[0]);
    if (dy.size() != p_.m * p_.out_features)
      throw py::value_error("LinearNode: a gradient of " + std::to_string(dy.size()) +
                            " elements for an output of " + std::to_string(p_.m) + "x" +
                            std::to_string(p_.out_features));
    py::array dx = new_f32_if(want_dx, input_shape_);
    py::array dw = new_f32_if(want_dw, shape_of(w_ref));
    py::array db = new_f32_if(want_db, {p_.out_features});
    py::array scratch = new_f32_if(p_.activation != Activation::none, {p_.m, p_.out_features});
    const float* x = bind::f32_data(x_ref);
    const float* w = bind::f32_data(w_ref);
    const float* y = bind::f32_data(y_ref);
    const float* dy_ptr = bind::f32_data(dy);
    float* scratch_ptr = bind::f32_mutable_data(scratch);
    float* dx_ptr = bind::f32_mutable_data(dx);
    float* dw_ptr = bind::f32_mutable_data(dw);
    float* db_ptr = bind::f32_mutable_data(db);
    {
      py::gil_scoped_release release;
      linear_backward(p_, x, w, y, dy_ptr, scratch_ptr, dx_ptr, dw_ptr, db_ptr);
    }
    std::vector<py::object> out{result(dx), result(dw)};
    if (has_bias_) out.push_back(result(db));
    return out;
  }

  void release_saved() override { x_ = w_ = y_ = null_array(); }

  py::array x_, w_, y_;
  LinearBackwardParams p_;
  std::vector<index_t> input_shape_;
  bool has_bias_;
};

py::object linear_node(py::handle edges_obj, py::handle x_obj, py::handle w_obj, py::handle y_obj,
                       py::handle activation, bool weight_is_out_by_in, py::handle input_shape_obj) {
  py::array x = saved_f32(x_obj), w = saved_f32(w_obj), y = saved_f32(y_obj);
  if (!x || !w || !y) return py::none();
  std::vector<Edge> edges = node_edges(kFn, edges_obj, {2, 3});
  LinearBackwardParams p;
  p.activation = bind::parse_activation(kFn, activation);
  if (p.activation != Activation::none && p.activation != Activation::relu &&
      p.activation != Activation::sigmoid && p.activation != Activation::tanh)
    throw py::value_error(std::string(kFn) + ": activation must be None, 'relu', 'sigmoid' or 'tanh'");
  if (w.ndim() != 2)
    throw py::value_error(std::string(kFn) + ": w must be 2-D, got shape " + bind::shape_str(w));
  p.weight_is_out_by_in = weight_is_out_by_in;
  p.in_features = weight_is_out_by_in ? w.shape(1) : w.shape(0);
  p.out_features = weight_is_out_by_in ? w.shape(0) : w.shape(1);
  std::vector<index_t> input_shape = shape_arg(kFn, "input_shape", input_shape_obj);
  if (input_shape.empty() || input_shape.back() != p.in_features || product(input_shape) != x.size())
    throw py::value_error(std::string(kFn) + ": input_shape " + bind::shape_str(input_shape) +
                          " must end in w's " + std::to_string(p.in_features) +
                          " input features and hold x " + bind::shape_str(x));
  p.m = product(std::vector<index_t>(input_shape.begin(), input_shape.end() - 1));
  if (y.size() != p.m * p.out_features)
    throw py::value_error(std::string(kFn) + ": y " + bind::shape_str(y) + " does not hold the " +
                          std::to_string(p.m) + "x" + std::to_string(p.out_features) + " output");
  // x and y are C-contiguous (saved_f32), so as flat memory they are the (m, in) and (m, out)
  // matrices the kernel reads, whatever their shapes.
  return wrap(std::make_unique<LinearNode>(std::move(edges), std::move(x), std::move(w), std::move(y), p,
                                           std::move(input_shape)));
}

// (y, node or None) for y = act(x @ op(w) + bias), x (..., in) -> y (..., out), in one call;
// None, doing nothing, unless every array is float32 C-contiguous and the shapes match (the
// general road then converts or reports).
py::object linear_op(py::handle edges_obj, py::handle x_obj, py::handle w_obj, py::handle bias_obj,
                     py::handle activation, bool weight_is_out_by_in) {
  if (!plain_f32(x_obj) || !plain_f32(w_obj) || (!bias_obj.is_none() && !plain_f32(bias_obj))) return py::none();
  py::array x = py::reinterpret_borrow<py::array>(x_obj), w = py::reinterpret_borrow<py::array>(w_obj);
  if (x.ndim() < 1 || w.ndim() != 2) return py::none();
  LinearBackwardParams p;
  if (activation.is_none()) p.activation = Activation::none;
  else if (!py::isinstance<py::str>(activation)) return py::none();
  else {
    const std::string name = activation.cast<std::string>();
    if (name == "relu") p.activation = Activation::relu;
    else if (name == "sigmoid") p.activation = Activation::sigmoid;
    else if (name == "tanh") p.activation = Activation::tanh;
    else return py::none();
  }
  std::vector<index_t> shape = shape_of(x);
  p.weight_is_out_by_in = weight_is_out_by_in;
  p.in_features = weight_is_out_by_in ? w.shape(1) : w.shape(0);
  p.out_features = weight_is_out_by_in ? w.shape(0) : w.shape(1);
  if (shape.back() != p.in_features) return py::none();
  p.m = product(std::vector<index_t>(shape.begin(), shape.end() - 1));
  py::array bias = null_array();
  if (!bias_obj.is_none()) {
    bias = py::reinterpret_borrow<py::array>(bias_obj);
    if (bias.ndim() != 1 || bias.shape(0) != p.out_features) return py::none();
  }
  const std::vector<index_t> input_shape = shape;
  shape.back() = p.out_features;
  py::array y = py::array_t<float>(shape);
  MatmulParams mp = matmul_params(p.m, p.out_features, p.in_features, false, weight_is_out_by_in);
  mp.activation = p.activation;
  const float* x_ptr = bind::f32_data(x);
  const float* w_ptr = bind::f32_data(w);
  const float* b_ptr = bind::f32_data(bias);
  float* y_ptr = bind::f32_mutable_data(y);
  {
    py::gil_scoped_release release;
    matmul(mp, x_ptr, w_ptr, b_ptr, y_ptr);
  }
  if (edges_obj.is_none()) return py::make_tuple(y, py::none());
  auto node = std::make_unique<LinearNode>(node_edges("linear_op", edges_obj, {2, 3}), x, w, y, p, input_shape);
  return py::make_tuple(y, wrap(std::move(node)));
}

}  // namespace

void bind_linear_node(py::module_& m) {
  bind_node_class<LinearNode>(m, "LinearNode", "Backward of y = act(x @ op(w) + bias) (linear_node).");
  m.def("linear_node", &linear_node, py::arg("edges"), py::arg("x"), py::arg("w"), py::arg("y"),
        py::arg("activation"), py::arg("weight_is_out_by_in"), py::arg("input_shape"),
        "The tape node of y = act(x2 @ op(w) + bias), x2 = x as (m, in): edges (x, w[, bias]);\n"
        "w (out, in) if weight_is_out_by_in else (in, out); y the forward output (m*out\n"
        "elements); activation None, 'relu', 'sigmoid' or 'tanh'; dx comes back in input_shape.\n"
        "None when x, w or y is not float32.");
  m.def("linear_op", &linear_op, py::arg("edges"), py::arg("x"), py::arg("w"), py::arg("bias"),
        py::arg("activation"), py::arg("weight_is_out_by_in"),
        "(y, node or None) for y = act(x @ op(w) + bias), x (..., in) -> (..., out), forward and\n"
        "node in one call (no node when edges is None); None, doing nothing, unless the arrays\n"
        "are float32 C-contiguous of matching shapes.");
}

}  // namespace kiln::nodes
