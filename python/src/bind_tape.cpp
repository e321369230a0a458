// The native half of kiln's reverse-mode tape (kiln/autograd.py is the other half).
//
// A layer whose backward is one kiln kernel on float32 arrays records a native backward
// object (LinearBackward, ActivationBackward, ScaledGradBackward) instead of a Python
// closure. When every node of a graph is native, Tensor.backward() walks it here in one
// call: the order, the gradient sums, the kernels and the leaves' .grad, with no
// interpreter between kernels (a batch-32 MLP step spent more time in that Python than
// in its kernels). A graph with any Python closure is walked by kiln/autograd.py, which
// calls these same objects as ordinary callables: one set of nodes, two walkers.
//
// The walk mirrors autograd.run_backward step for step (order by creation number,
// gradients summed in the same order), so both give bit-identical gradients.
#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <pybind11/stl.h>

#include "activation_arg.hpp"
#include "arrays.hpp"
#include "bindings.hpp"
#include "kiln/activation.hpp"
#include "kiln/linear.hpp"
#include "kiln/loss.hpp"
#include "kiln/matmul.hpp"

namespace kiln::bind {
namespace {

// Seconds spent running Python (leaf gradient fallbacks) inside run_backward, so that
// kiln.profiler does not count it as kernel time.
double g_python_seconds = 0.0;

std::vector<index_t> shape_of(const py::array& a) {
  return std::vector<index_t>(a.shape(), a.shape() + a.ndim());
}

// A gradient handed in by the walker or by Python: any array-like, as contiguous float32.
py::array_t<float> dense_grad(py::handle g) {
  auto a = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(g);
  if (!a) throw py::type_error("a tape node's gradient must be a numeric array, got " +
                               std::string(py::str(py::type::handle_of(g))));
  return a;
}

py::array null_array() { return py::reinterpret_borrow<py::array>(py::handle()); }

py::array contiguous_input(const char* fn, const char* arg, py::handle obj) {
  py::array a = float32_array(fn, arg, obj);
  require_c_contiguous(fn, arg, a);
  return a;
}

class NativeBackward {
 public:
  virtual ~NativeBackward() = default;
  // One gradient (ndarray, or None where not wanted) per parent, from d loss / d output.
  virtual py::tuple apply(py::handle grad_out) = 0;
};

// y = act(x @ op(w) + bias) of kiln.functional.linear / dense; parents (x, w[, bias]).
// x and y as matrices (m, in) and (m, out); dx comes back in input_shape.
class LinearBackward final : public NativeBackward {
 public:
  // Arrays and sizes already checked (linear_forward_node, or make_linear_backward).
  LinearBackward(py::array x, py::array w, py::array y, const LinearBackwardParams& p,
                 bool input_grad, bool weight_grad, bool has_bias, bool bias_grad,
                 std::vector<index_t> input_shape)
      : x_(std::move(x)), w_(std::move(w)), y_(std::move(y)), p_(p), input_grad_(input_grad),
        weight_grad_(weight_grad), has_bias_(has_bias), bias_grad_(has_bias && bias_grad),
        input_shape_(std::move(input_shape)) {}

  py::tuple apply(py::handle grad_out) override {
    py::array_t<float> dy = dense_grad(grad_out);
    if (dy.size() != p_.m * p_.out_features)
      throw py::value_error(std::string(kFn) + ": gradient of shape " + shape_str(dy) +
                            " for an output of " + std::to_string(p_.m) + "x" +
                            std::to_string(p_.out_features));
    // py::array() would be an empty array, not a null one: start from null handles.
    py::array dx = null_array(), dw = null_array(), db = null_array(), scratch = null_array();
    if (input_grad_) dx = py::array_t<float>(input_shape_);
    if (weight_grad_) dw = py::array_t<float>(shape_of(w_));
    if (bias_grad_) db = py::array_t<float>(p_.out_features);
    if (p_.activation != Activation::none) scratch = py::array_t<float>({p_.m, p_.out_features});
    const float* dy_ptr = dy.data();
    float* scratch_ptr = f32_mutable_data(scratch);
    float* dx_ptr = f32_mutable_data(dx);
    float* dw_ptr = f32_mutable_data(dw);
    float* db_ptr = f32_mutable_data(db);
    {
      py::gil_scoped_release release;
      linear_backward(p_, f32_data(x_), f32_data(w_), f32_data(y_), dy_ptr, scratch_ptr, dx_ptr,
                      dw_ptr, db_ptr);
    }
    auto or_none = [](py::array& a) -> py::object { return a ? py::object(a) : py::none(); };
    if (has_bias_) return py::make_tuple(or_none(dx), or_none(dw), or_none(db));
    return py::make_tuple(or_none(dx), or_none(dw));
  }

 private:
  static constexpr const char* kFn = "LinearBackward";
  py::array x_, w_, y_;
  LinearBackwardParams p_;
  bool input_grad_, weight_grad_, has_bias_, bias_grad_;
  std::vector<index_t> input_shape_;
};

// LinearBackward from Python, every argument checked.
std::unique_ptr<LinearBackward> make_linear_backward(py::handle x_obj, py::handle w_obj,
                                                     py::handle y_obj, py::handle activation,
                                                     bool weight_is_out_by_in, bool input_grad,
                                                     bool weight_grad, py::handle bias_grad,
                                                     std::vector<index_t> input_shape) {
  constexpr const char* kFn = "LinearBackward";
  py::array x = contiguous_input(kFn, "x", x_obj), w = contiguous_input(kFn, "w", w_obj);
  py::array y = contiguous_input(kFn, "y", y_obj);
  require_ndim(kFn, "x", x, {2});
  require_ndim(kFn, "w", w, {2});
  LinearBackwardParams p;
  p.m = x.shape(0);
  p.in_features = x.shape(1);
  p.out_features = weight_is_out_by_in ? w.shape(0) : w.shape(1);
  p.weight_is_out_by_in = weight_is_out_by_in;
  p.activation = parse_activation(kFn, activation);
  if (p.activation != Activation::none && p.activation != Activation::relu &&
      p.activation != Activation::sigmoid && p.activation != Activation::tanh)
    throw py::value_error(std::string(kFn) + ": activation must be None, relu, sigmoid or tanh");
  require_shape(kFn, "w", w, weight_is_out_by_in ? std::vector<index_t>{p.out_features, p.in_features}
                                                 : std::vector<index_t>{p.in_features, p.out_features});
  require_shape(kFn, "y", y, {p.m, p.out_features});
  index_t size = 1;
  for (index_t d : input_shape) size *= d;
  if (size != p.m * p.in_features)
    throw py::value_error(std::string(kFn) + ": input_shape " + shape_str(input_shape) +
                          " does not hold x " + shape_str(x));
  const bool has_bias = !bias_grad.is_none();
  return std::make_unique<LinearBackward>(x, w, y, p, input_grad, weight_grad, has_bias,
                                          has_bias && bias_grad.cast<bool>(), std::move(input_shape));
}

// relu / sigmoid / tanh; `saved` is the input for relu and the output for the others.
class ActivationBackward final : public NativeBackward {
 public:
  // act is relu, sigmoid or tanh, saved float32 and C-contiguous (checked by the caller).
  ActivationBackward(Activation act, py::array saved) : act_(act), saved_(std::move(saved)) {}

  py::tuple apply(py::handle grad_out) override {
    py::array_t<float> dy = dense_grad(grad_out);
    require_shape(kFn, "grad", dy, shape_of(saved_));
    py::array dx = py::array_t<float>(shape_of(saved_));
    const bool reads_input = act_ == Activation::relu;
    const float* saved = f32_data(saved_);
    const float* dy_ptr = dy.data();
    float* dx_ptr = f32_mutable_data(dx);
    {
      py::gil_scoped_release release;
      activation_backward(act_, saved_.size(), reads_input ? saved : nullptr,
                          reads_input ? nullptr : saved, dy_ptr, dx_ptr);
    }
    return py::make_tuple(dx);
  }

 private:
  static constexpr const char* kFn = "ActivationBackward";
  Activation act_;
  py::array saved_;
};

// ActivationBackward from Python, its arguments checked.
std::unique_ptr<ActivationBackward> make_activation_backward(py::handle activation, py::handle saved) {
  constexpr const char* kFn = "ActivationBackward";
  const Activation act = parse_activation(kFn, activation);
  if (act != Activation::relu && act != Activation::sigmoid && act != Activation::tanh)
    throw py::value_error(std::string(kFn) + ": activation must be relu, sigmoid or tanh");
  return std::make_unique<ActivationBackward>(act, contiguous_input(kFn, "saved", saved));
}

// A loss whose kernel already wrote d loss / d input (`grad`, for a loss of 1): the
// backward scales it by the incoming scalar gradient times `scale` (reduction="sum").
class ScaledGradBackward final : public NativeBackward {
 public:
  ScaledGradBackward(py::handle grad, double scale)
      : grad_(contiguous_input(kFn, "grad", grad)), scale_(scale) {}

  py::tuple apply(py::handle grad_out) override {
    const double factor = static_cast<double>(py::float_(py::reinterpret_borrow<py::object>(grad_out))) * scale_;
    if (factor == 1.0) return py::make_tuple(grad_);  // the loss is the root: no copy
    py::array out = py::array_t<float>(shape_of(grad_));
    const float f = static_cast<float>(factor);
    const float* src = f32_data(grad_);
    float* dst = f32_mutable_data(out);
    for (index_t i = 0, n = grad_.size(); i < n; ++i) dst[i] = src[i] * f;
    return py::make_tuple(out);
  }

 private:
  static constexpr const char* kFn = "ScaledGradBackward";
  py::array grad_;
  double scale_;
};

// ---- forward calls that also build their node --------------------------------------------

// A float32 C-contiguous ndarray: what the layers' fast road takes as it is.
bool plain(py::handle obj) {
  return py::isinstance<py::array_t<float>>(obj) &&
         (py::reinterpret_borrow<py::array>(obj).flags() & py::array::c_style);
}

// None, "relu", "sigmoid" or "tanh" (what a layer fuses); false for anything else, which
// the general road then reports.
bool layer_activation(py::handle name, Activation* act) {
  if (name.is_none()) {
    *act = Activation::none;
    return true;
  }
  if (!py::isinstance<py::str>(name)) return false;
  const std::string s = name.cast<std::string>();
  if (s == "relu") *act = Activation::relu;
  else if (s == "sigmoid") *act = Activation::sigmoid;
  else if (s == "tanh") *act = Activation::tanh;
  else return false;
  return true;
}

// (y, node) for y = act(x @ op(w) + bias): x (..., in), w (out, in) or (in, out), bias
// (out,) or None -> y (..., out); node is the LinearBackward when any of input_grad,
// weight_grad, bias_grad (None: no bias) holds, else None. Returns None, doing nothing, for
// anything else (other dtypes, layouts, mismatched shapes): the layer then takes the
// general road, which says what is wrong.
py::object linear_forward_node(py::handle x, py::handle w, py::handle bias, py::handle activation,
                               bool weight_is_out_by_in, bool input_grad, bool weight_grad,
                               py::handle bias_grad) {
  if (!plain(x) || !plain(w) || (!bias.is_none() && !plain(bias))) return py::none();
  py::array X = py::reinterpret_borrow<py::array>(x);
  py::array W = py::reinterpret_borrow<py::array>(w);
  if (X.ndim() < 1 || W.ndim() != 2) return py::none();
  const std::vector<index_t> x_shape = shape_of(X);
  const index_t in = x_shape.back();
  index_t m = 1;
  for (std::size_t d = 0; d + 1 < x_shape.size(); ++d) m *= x_shape[d];
  const index_t out = weight_is_out_by_in ? W.shape(0) : W.shape(1);
  if ((weight_is_out_by_in ? W.shape(1) : W.shape(0)) != in) return py::none();
  py::array B = null_array();
  if (!bias.is_none()) {
    B = py::reinterpret_borrow<py::array>(bias);
    if (B.ndim() != 1 || B.shape(0) != out) return py::none();
  }
  LinearBackwardParams lp;
  if (!layer_activation(activation, &lp.activation)) return py::none();
  lp.m = m;
  lp.in_features = in;
  lp.out_features = out;
  lp.weight_is_out_by_in = weight_is_out_by_in;
  py::array X2 = X.ndim() == 2 ? X : X.reshape(std::vector<index_t>{m, in});
  py::array Y2 = py::array_t<float>({m, out});
  MatmulParams p = matmul_params(m, out, in, false, weight_is_out_by_in);
  p.activation = lp.activation;
  const float* x_ptr = f32_data(X2);
  const float* w_ptr = f32_data(W);
  const float* b_ptr = f32_data(B);
  float* y_ptr = f32_mutable_data(Y2);
  {
    py::gil_scoped_release release;
    matmul(p, x_ptr, w_ptr, b_ptr, y_ptr);
  }
  std::vector<index_t> y_shape = x_shape;
  y_shape.back() = out;
  py::array Y = X.ndim() == 2 ? Y2 : Y2.reshape(y_shape);
  const bool has_bias = !bias_grad.is_none();
  const bool wants_bias_grad = has_bias && bias_grad.cast<bool>();
  if (!input_grad && !weight_grad && !wants_bias_grad) return py::make_tuple(Y, py::none());
  auto node = std::make_unique<LinearBackward>(X2, W, Y2, lp, input_grad, weight_grad, has_bias,
                                               wants_bias_grad, x_shape);
  return py::make_tuple(Y, py::cast(std::move(node)));
}

// (y, node) for relu, sigmoid or tanh of x (any shape); node None unless `record`.
// None, doing nothing, unless x is float32 and C-contiguous.
py::object activation_forward_node(py::handle x, py::handle activation, bool record) {
  if (!plain(x)) return py::none();
  Activation act;
  if (!layer_activation(activation, &act) || act == Activation::none) return py::none();
  py::array X = py::reinterpret_borrow<py::array>(x);
  py::array Y = py::array_t<float>(shape_of(X));
  const float* x_ptr = f32_data(X);
  float* y_ptr = f32_mutable_data(Y);
  {
    py::gil_scoped_release release;
    kiln::activation_forward(act, X.size(), x_ptr, y_ptr);
  }
  if (!record) return py::make_tuple(Y, py::none());
  auto node = std::make_unique<ActivationBackward>(act, act == Activation::relu ? X : Y);
  return py::make_tuple(Y, py::cast(std::move(node)));
}

// (loss, node) for softmax cross-entropy of logits (N, C) at class indices target (N,) int64:
// loss the mean times `scale` (reduction="sum"), a 0-D float32 array rounded from double as
// NumPy would; node (ScaledGradBackward over the gradient, times scale) None unless `record`.
// None, doing nothing, for other dtypes, layouts or shapes (probability targets among them).
py::object cross_entropy_forward_node(py::handle logits, py::handle target, std::int64_t ignore_index,
                                      float label_smoothing, double scale, bool record) {
  if (!plain(logits) || !py::isinstance<py::array_t<std::int64_t>>(target)) return py::none();
  py::array Z = py::reinterpret_borrow<py::array>(logits);
  py::array T = py::reinterpret_borrow<py::array>(target);
  if (Z.ndim() != 2 || T.ndim() != 1 || T.shape(0) != Z.shape(0) || !(T.flags() & py::array::c_style))
    return py::none();
  CrossEntropyParams p;
  p.rows = Z.shape(0);
  p.classes = Z.shape(1);
  p.ignore_index = ignore_index;
  p.label_smoothing = label_smoothing;
  py::array G = py::array_t<float>({p.rows, p.classes});
  const float* z = f32_data(Z);
  const auto* t = static_cast<const std::int64_t*>(T.data());
  float* g = f32_mutable_data(G);
  float loss = 0.0f;
  {
    py::gil_scoped_release release;
    softmax_cross_entropy(p, z, t, &loss, g);
  }
  py::array_t<float> value(std::vector<index_t>{});
  *value.mutable_data() = static_cast<float>(static_cast<double>(loss) * scale);
  if (!record) return py::make_tuple(value, py::none());
  return py::make_tuple(value, py::cast(std::make_unique<ScaledGradBackward>(G, scale)));
}

// ---- the walker -------------------------------------------------------------------------

// Attribute names, interned once and kept for the life of the process.
struct Names {
  PyObject* backward = PyUnicode_InternFromString("_backward");
  PyObject* parents = PyUnicode_InternFromString("_parents");
  PyObject* requires_grad = PyUnicode_InternFromString("requires_grad");
  PyObject* seq = PyUnicode_InternFromString("_seq");
  PyObject* array = PyUnicode_InternFromString("_array");
  PyObject* grad = PyUnicode_InternFromString("grad");
  PyObject* grad_buffer = PyUnicode_InternFromString("_grad_buffer");
  PyObject* grad_tensor = PyUnicode_InternFromString("_grad_tensor");
  PyObject* accumulate_grad = PyUnicode_InternFromString("_accumulate_grad");
};

const Names& names() {
  static const Names* n = new Names();  // never freed: outlives the interpreter's teardown
  return *n;
}

struct TapeNode {
  py::handle tensor;           // kept alive by the parents tuple that led here (or the caller)
  NativeBackward* fn;          // null for a leaf
  py::tuple parents;
  long long seq;
  py::object grad;             // null until a gradient arrives
};

bool same_array(py::handle a, py::handle b) { return a.ptr() == b.ptr(); }

// d loss / d leaf into leaf.grad. The optimizer's flat buffer is filled in C++; anything
// else goes to Tensor._accumulate_grad (Python, timed for the profiler).
void accumulate_leaf(py::handle leaf, const py::object& g) {
  const Names& n = names();
  py::object buffer = py::reinterpret_steal<py::object>(PyObject_GetAttr(leaf.ptr(), n.grad_buffer));
  if (!buffer) throw py::error_already_set();
  if (py::isinstance<py::array_t<float>>(buffer) && py::isinstance<py::array_t<float>>(g)) {
    py::array buf = py::reinterpret_borrow<py::array>(buffer);
    py::array src = py::reinterpret_borrow<py::array>(g);
    const bool fits = (buf.flags() & py::array::c_style) && (src.flags() & py::array::c_style) &&
                      buf.writeable() && shape_of(buf) == shape_of(src);
    if (fits) {
      py::object current = py::reinterpret_steal<py::object>(PyObject_GetAttr(leaf.ptr(), n.grad));
      if (!current) throw py::error_already_set();
      float* dst = static_cast<float*>(buf.mutable_data());
      const float* s = static_cast<const float*>(src.data());
      const index_t count = buf.size();
      if (current.is_none()) {
        py::object wrapper =
            py::reinterpret_steal<py::object>(PyObject_GetAttr(leaf.ptr(), n.grad_tensor));
        if (!wrapper) PyErr_Clear();
        if (wrapper && !wrapper.is_none()) {
          py::object wrapped = py::reinterpret_steal<py::object>(PyObject_GetAttr(wrapper.ptr(), n.array));
          if (!wrapped) throw py::error_already_set();
          if (same_array(wrapped, buf)) {
            std::copy(s, s + count, dst);
            if (PyObject_SetAttr(leaf.ptr(), n.grad, wrapper.ptr()) != 0) throw py::error_already_set();
            return;
          }
        }
      } else {
        py::object holds = py::reinterpret_steal<py::object>(PyObject_GetAttr(current.ptr(), n.array));
        if (!holds) throw py::error_already_set();
        if (same_array(holds, buf)) {
          for (index_t i = 0; i < count; ++i) dst[i] += s[i];
          return;
        }
      }
    }
  }
  const auto start = std::chrono::steady_clock::now();
  py::object result = py::reinterpret_steal<py::object>(
      PyObject_CallMethodOneArg(leaf.ptr(), n.accumulate_grad, g.ptr()));
  g_python_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!result) throw py::error_already_set();
}

py::object get(py::handle obj, PyObject* name) {
  PyObject* value = PyObject_GetAttr(obj.ptr(), name);
  if (!value) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(value);
}

bool requires_grad(py::handle t) {
  const int truth = PyObject_IsTrue(get(t, names().requires_grad).ptr());
  if (truth < 0) throw py::error_already_set();
  return truth == 1;
}

// Walk root's graph if every node in it is native; false (having changed nothing) otherwise.
// grad: d loss / d root, or None for ones (a float32 root).
bool run_backward(py::handle root, py::object grad, bool retain_graph, py::handle freed) {
  const Names& n = names();
  std::vector<TapeNode> nodes;
  std::unordered_map<PyObject*, std::size_t> index;
  std::vector<py::handle> stack{root};
  index.emplace(root.ptr(), 0);
  while (!stack.empty()) {
    py::handle t = stack.back();
    stack.pop_back();
    py::object fn = get(t, n.backward);
    NativeBackward* native = nullptr;
    if (!fn.is_none()) {
      if (!py::isinstance<NativeBackward>(fn)) return false;
      native = fn.cast<NativeBackward*>();
    } else if (nodes.empty()) {
      return false;  // the root is a leaf: Python's walker handles that
    }
    py::object parents = get(t, n.parents);
    if (!PyTuple_Check(parents.ptr())) return false;
    const long long seq = native ? get(t, n.seq).cast<long long>() : 0;
    index[t.ptr()] = nodes.size();
    nodes.push_back({t, native, py::reinterpret_borrow<py::tuple>(parents), seq, py::object()});
    for (py::handle parent : nodes.back().parents) {
      if (index.count(parent.ptr()) || !requires_grad(parent)) continue;
      index.emplace(parent.ptr(), SIZE_MAX);
      stack.push_back(parent);
    }
  }
  // Newest first: a node after everything computed from it (stable, as Python's sort).
  std::stable_sort(nodes.begin(), nodes.end(),
                   [](const TapeNode& a, const TapeNode& b) { return a.seq > b.seq; });
  for (std::size_t i = 0; i < nodes.size(); ++i) index[nodes[i].tensor.ptr()] = i;
  if (grad.is_none()) {  // d root / d root: ones of the root's shape
    py::object root_array = get(root, n.array);
    if (!py::isinstance<py::array_t<float>>(root_array)) return false;
    py::array_t<float> ones(shape_of(py::reinterpret_borrow<py::array>(root_array)));
    std::fill(ones.mutable_data(), ones.mutable_data() + ones.size(), 1.0f);
    grad = std::move(ones);
  }
  nodes[0].grad = std::move(grad);

  py::tuple no_parents(0);
  for (TapeNode& node : nodes) {
    if (!node.grad) continue;
    py::object g = std::move(node.grad);
    node.grad = py::object();
    if (!node.fn) {
      accumulate_leaf(node.tensor, g);
      continue;
    }
    py::tuple parent_grads = node.fn->apply(g);
    const std::size_t count = std::min<std::size_t>(parent_grads.size(), node.parents.size());
    for (std::size_t k = 0; k < count; ++k) {
      py::handle pg = parent_grads[k];
      py::handle parent = node.parents[k];
      auto found = index.find(parent.ptr());
      if (pg.is_none() || found == index.end()) continue;
      py::array pa = py::reinterpret_borrow<py::array>(pg);
      py::array target = get(parent, n.array);
      if (shape_of(pa) != shape_of(target))
        throw std::runtime_error("internal error: gradient of shape " + shape_str(pa) +
                                 " for a tensor of shape " + shape_str(target));
      py::object& slot = nodes[found->second].grad;
      if (!slot) {
        slot = py::reinterpret_borrow<py::object>(pg);
      } else {
        PyObject* sum = PyNumber_Add(slot.ptr(), pg.ptr());
        if (!sum) throw py::error_already_set();
        slot = py::reinterpret_steal<py::object>(sum);
      }
    }
    if (!retain_graph) {
      if (PyObject_SetAttr(node.tensor.ptr(), n.backward, freed.ptr()) != 0 ||
          PyObject_SetAttr(node.tensor.ptr(), n.parents, no_parents.ptr()) != 0)
        throw py::error_already_set();
    }
  }
  return true;
}

}  // namespace

void bind_tape(py::module_& m) {
  py::class_<NativeBackward>(m, "NativeBackward",
                             "A tape node's backward in C++; call it with d loss / d output.")
      .def("__call__", &NativeBackward::apply, py::arg("grad"));
  py::class_<LinearBackward, NativeBackward>(m, "LinearBackward")
      .def(py::init(&make_linear_backward),
           py::arg("x"), py::arg("w"), py::arg("y"), py::arg("activation"),
           py::arg("weight_is_out_by_in"), py::arg("input_grad"), py::arg("weight_grad"),
           py::arg("bias_grad"), py::arg("input_shape"),
           "Backward of y = act(x @ op(w) + bias): x (m, in), y (m, out); bias_grad None when\n"
           "there is no bias. Called with dy, returns (dx in input_shape, dw[, db]), None where\n"
           "a gradient is not wanted.");
  py::class_<ActivationBackward, NativeBackward>(m, "ActivationBackward")
      .def(py::init(&make_activation_backward), py::arg("activation"), py::arg("saved"),
           "relu, sigmoid or tanh; saved is the input for relu, the output otherwise.");
  py::class_<ScaledGradBackward, NativeBackward>(m, "ScaledGradBackward")
      .def(py::init<py::handle, double>(), py::arg("grad"), py::arg("scale"),
           "A loss's saved gradient, scaled by the incoming scalar gradient times scale.");
  m.def("linear_forward_node", &linear_forward_node, py::arg("x"), py::arg("w"), py::arg("bias"),
        py::arg("activation"), py::arg("weight_is_out_by_in"), py::arg("input_grad"),
        py::arg("weight_grad"), py::arg("bias_grad"),
        "(y, LinearBackward or None) for y = act(x @ op(w) + bias), or None when the arrays\n"
        "are not plain float32 C-contiguous matrices of matching shapes.");
  m.def("activation_forward_node", &activation_forward_node, py::arg("x"), py::arg("activation"),
        py::arg("record"),
        "(y, ActivationBackward or None) for relu, sigmoid or tanh, or None when x is not\n"
        "float32 C-contiguous.");
  m.def("cross_entropy_forward_node", &cross_entropy_forward_node, py::arg("logits"),
        py::arg("target"), py::arg("ignore_index"), py::arg("label_smoothing"), py::arg("scale"),
        py::arg("record"),
        "(loss * scale as a 0-D array, ScaledGradBackward or None) for softmax cross-entropy at int64 class\n"
        "indices, or None when the arrays are not plain (N, C) float32 and (N,) int64.");
  m.def("run_backward", &run_backward, py::arg("root"), py::arg("grad"), py::arg("retain_graph"),
        py::arg("freed"),
        "Backward through root's graph when every node is native; False, untouched, otherwise.");
  m.def("tape_python_seconds", [] { return g_python_seconds; },
        "Seconds run_backward has spent calling back into Python.");
}

}  // namespace kiln::bind
