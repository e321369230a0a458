// The node classes of kiln._tape as Python sees them: Node (the base every node type
// derives from, here and in kiln._C), Output (output k > 0 of a multi-output node) and
// PythonNode (a backward written in Python), plus what building a node needs: edges from
// Python objects, and a release that never recurses (graphs can be 10^5 nodes deep).
#include <string>
#include <vector>

#include "tape_internal.hpp"

namespace kiln::tape {
namespace {

PyTypeObject* g_output_type = nullptr;

std::string type_name(py::handle obj) {
  return obj.is_none() ? "None" : std::string(Py_TYPE(obj.ptr())->tp_name);
}

// The C++ object inside an instance of a bound class (null before __init__ has run).
void* value_in(PyObject* obj) noexcept {
  auto* inst = reinterpret_cast<py::detail::instance*>(obj);
  py::detail::value_and_holder vh = inst->get_value_and_holder(nullptr, false);
  return vh && vh.holder_constructed() ? vh.value_ptr() : nullptr;
}

Output* output_of(PyObject* obj) noexcept {
  return Py_TYPE(obj) == g_output_type ? static_cast<Output*>(value_in(obj)) : nullptr;
}

// Output objects for k > 0, the node itself for k == 0 (how a Tensor names its producer).
py::object output_object(py::handle node, Node* ptr, int k) {
  if (k < 0 || k >= ptr->num_outputs)
    throw py::index_error("output " + std::to_string(k) + " of a node with " +
                          std::to_string(ptr->num_outputs) + " outputs");
  if (k == 0) return py::reinterpret_borrow<py::object>(node);
  return py::cast(Output{py::reinterpret_borrow<py::object>(node), ptr, k});
}

py::object edge_object(const Edge& e) {
  if (!e) return py::none();
  return output_object(e.target, e.node, e.slot);
}

// ---- deferred release ---------------------------------------------------------------

// References waiting to be dropped, and whether a loop is dropping them now. Touched only
// with the GIL held. Never freed: nodes can die during interpreter teardown.
std::vector<PyObject*>* g_pending = new std::vector<PyObject*>();
bool g_draining = false;

// ---- garbage-collector support ------------------------------------------------------
// A Python closure can hold the Tensor whose node holds the closure; without tp_traverse
// such a cycle would never be freed. Subtypes (created by pybind11 without a traverse of
// their own) inherit these slots and the GC flag from Node's type in PyType_Ready.

int node_traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));  // instances of heap types own a reference to their type
  auto* node = static_cast<Node*>(value_in(self));
  return node ? node->traverse(visit, arg) : 0;
}

int node_clear(PyObject* self) {
  if (auto* node = static_cast<Node*>(value_in(self))) node->release();
  return 0;
}

int output_traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));
  if (Output* out = output_of(self)) Py_VISIT(out->node.ptr());
  return 0;
}

int output_clear(PyObject* self) {
  if (Output* out = output_of(self)) {
    out->ptr = nullptr;
    py::object node = std::move(out->node);
  }
  return 0;
}

void output_type_setup(PyHeapTypeObject* heap_type) {
  PyTypeObject* type = &heap_type->ht_type;
  type->tp_flags |= Py_TPFLAGS_HAVE_GC;
  type->tp_traverse = output_traverse;
  type->tp_clear = output_clear;
}

// ---- PythonNode ------------------------------------------------------------------------

class PythonNode final : public Node {
 public:
  PythonNode(py::object fn, std::vector<Edge> edges, int outputs)
      : Node(std::move(edges), outputs), fn_(std::move(fn)) {}
  ~PythonNode() override { drop(fn_); }

  int traverse(visitproc visit, void* arg) override {
    Py_VISIT(fn_.ptr());
    return Node::traverse(visit, arg);
  }

 private:
  std::vector<py::object> backward(std::vector<py::object>& grads) override {
    const std::size_t expected = edges.size();
    py::object fn = fn_;  // a reference of our own: fn may release this very node
    py::object arg;
    if (num_outputs == 1) {
      arg = std::move(grads[0]);
    } else {
      py::list list(num_outputs);
      for (int k = 0; k < num_outputs; ++k)
        PyList_SET_ITEM(list.ptr(), k, (grads[k] ? grads[k] : py::none()).inc_ref().ptr());
      arg = std::move(list);
    }
    PyObject* result;
    {
      InPython timer;
      result = PyObject_CallOneArg(fn.ptr(), arg.ptr());
    }
    if (!result) throw py::error_already_set();
    py::object returned = py::reinterpret_steal<py::object>(result);
    if (py::isinstance<py::array>(returned))
      throw py::type_error("PythonNode: the backward function must return a sequence of gradients "
                           "(one per edge), got a single ndarray");
    py::object items = py::reinterpret_steal<py::object>(
        PySequence_Fast(returned.ptr(), "PythonNode: the backward function must return a sequence "
                                        "of gradients, one per edge"));
    if (!items) throw py::error_already_set();
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(items.ptr());
    if (static_cast<std::size_t>(n) != expected)
      throw py::value_error("PythonNode: the backward function returned " + std::to_string(n) +
                            " gradients for " + std::to_string(expected) + " edges");
    PyObject** raw = PySequence_Fast_ITEMS(items.ptr());
    std::vector<py::object> out(expected);
    for (Py_ssize_t k = 0; k < n; ++k)
      if (raw[k] != Py_None) out[k] = py::reinterpret_borrow<py::object>(raw[k]);
    return out;
  }

  void release_saved() override { drop(fn_); }

  py::object fn_;
};

}  // namespace

void defer_decref(PyObject* owned) {
  if (!owned) return;
  if (g_draining) {
    try {
      g_pending->push_back(owned);
      return;
    } catch (...) {  // out of memory: drop it here, recursion and all
      Py_DECREF(owned);
      return;
    }
  }
  g_draining = true;
  Py_DECREF(owned);
  while (!g_pending->empty()) {
    PyObject* next = g_pending->back();
    g_pending->pop_back();
    Py_DECREF(next);
  }
  g_draining = false;
}

Edge edge_from(py::handle obj, const char* fn, bool allow_none) {
  if (obj.is_none() && allow_none) return Edge{};
  if (Output* out = output_of(obj.ptr())) {
    if (!out->ptr) throw py::type_error(std::string(fn) + ": this Output was cleared");
    return Edge{out->node, out->ptr, out->slot};
  }
  if (Node* node = node_of(obj.ptr())) return Edge{py::reinterpret_borrow<py::object>(obj), node, 0};
  throw py::type_error(std::string(fn) + ": an edge must be " + (allow_none ? "None, " : "") +
                       "a Node, an Output or a Leaf, got " + type_name(obj));
}

std::vector<Edge> edges_from(py::handle sequence, const char* fn) {
  if (py::isinstance<py::array>(sequence) || PyUnicode_Check(sequence.ptr()))
    throw py::type_error(std::string(fn) + ": edges must be a sequence of edge objects, got " +
                         type_name(sequence));
  py::object items = py::reinterpret_steal<py::object>(
      PySequence_Fast(sequence.ptr(), "edges must be a sequence (None, Node, Output or Leaf each)"));
  if (!items) throw py::error_already_set();
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(items.ptr());
  PyObject** raw = PySequence_Fast_ITEMS(items.ptr());
  std::vector<Edge> edges;
  edges.reserve(static_cast<std::size_t>(n));
  for (Py_ssize_t i = 0; i < n; ++i) edges.push_back(edge_from(raw[i], fn));
  return edges;
}

int parse_edges_api(PyObject* sequence, std::vector<Edge>* out) {
  try {
    *out = edges_from(sequence, "edges");
    return 0;
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (const py::builtin_exception& e) {
    e.set_error();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
  return -1;
}

void node_type_setup(PyHeapTypeObject* heap_type) {
  PyTypeObject* type = &heap_type->ht_type;
  type->tp_flags |= Py_TPFLAGS_HAVE_GC;
  type->tp_traverse = node_traverse;
  type->tp_clear = node_clear;
}

void bind_node_types(py::module_& m) {
  py::class_<Node>(m, "Node", py::custom_type_setup(node_type_setup),
                   "A node of kiln's tape: the backward of one operation, with one edge per input.\n"
                   "Built by PythonNode, Leaf, the view nodes here and kiln._C's *_node functions.")
      .def_property_readonly("seq", [](const Node& n) { return n.seq; },
                             "Creation number (process-wide, increasing); 0 for a Leaf.")
      .def_property_readonly("num_outputs", [](const Node& n) { return n.num_outputs; })
      .def_property_readonly("released", [](const Node& n) { return n.released; },
                             "Whether a backward without retain_graph has freed it.")
      .def_property_readonly(
          "edges",
          [](const Node& n) {
            py::tuple out(n.edges.size());
            for (std::size_t i = 0; i < n.edges.size(); ++i) out[i] = edge_object(n.edges[i]);
            return out;
          },
          "One per input: the Node, Output or Leaf its gradient goes to, or None. () once released.")
      .def(
          "output",
          [](py::handle self, int k) { return output_object(self, self.cast<Node*>(), k); },
          py::arg("k"), "The node itself for k == 0, Output(node, k) for 0 < k < num_outputs.")
      .def(
          "__call__",
          [](Node& n, py::handle grads) {
            py::object items = py::reinterpret_steal<py::object>(
                PySequence_Fast(grads.ptr(), "grads must be a sequence, one per output"));
            if (!items) throw py::error_already_set();
            std::vector<py::object> in;
            for (py::handle g : py::reinterpret_borrow<py::sequence>(items))
              in.push_back(py::reinterpret_borrow<py::object>(g));
            std::vector<py::object> out = n.apply(std::move(in));
            py::tuple result(out.size());
            for (std::size_t i = 0; i < out.size(); ++i) result[i] = out[i] ? out[i] : py::none();
            return result;
          },
          py::arg("grads"),
          "Run the backward once: grads, one per output (None: no gradient) -> one per edge.")
      .def("release", &Node::release, "Free saved state and edges, as a backward does.")
      .def("__repr__", [](py::handle self) {
        const Node& n = *self.cast<Node*>();
        return std::string("<") + Py_TYPE(self.ptr())->tp_name + " seq=" + std::to_string(n.seq) +
               " outputs=" + std::to_string(n.num_outputs) + " edges=" +
               std::to_string(n.edges.size()) + (n.released ? " released>" : ">");
      });

  py::class_<Output> output(m, "Output", py::is_final(), py::custom_type_setup(output_type_setup),
                            "Output `slot` (> 0) of a multi-output node, as an edge or a root.");
  output
      .def(py::init([](py::handle node, int slot) {
             Node* ptr = node_of(node.ptr());
             if (!ptr) throw py::type_error("Output: node must be a Node, got " + type_name(node));
             if (slot == 0) throw py::value_error("Output: slot 0 is the node itself; pass the node");
             if (slot < 0 || slot >= ptr->num_outputs)
               throw py::index_error("Output: slot " + std::to_string(slot) + " of a node with " +
                                     std::to_string(ptr->num_outputs) + " outputs");
             return Output{py::reinterpret_borrow<py::object>(node), ptr, slot};
           }),
           py::arg("node"), py::arg("slot"))
      .def_property_readonly("node", [](const Output& o) { return o.node; })
      .def_property_readonly("slot", [](const Output& o) { return o.slot; })
      .def("__eq__",
           [](const Output& a, py::handle b) {
             const Output* o = output_of(b.ptr());
             return o && o->ptr == a.ptr && o->slot == a.slot;
           })
      .def("__hash__", [](const Output& o) {
        return py::hash(py::make_tuple(reinterpret_cast<std::uintptr_t>(o.ptr), o.slot));
      })
      .def("__repr__", [](const Output& o) {
        return "<kiln._tape.Output slot=" + std::to_string(o.slot) + " of " +
               std::string(py::repr(o.node)) + ">";
      });
  g_output_type = reinterpret_cast<PyTypeObject*>(output.ptr());

  py::class_<PythonNode, Node>(m, "PythonNode", py::is_final())
      .def(py::init([](py::object fn, py::handle edges, int num_outputs) {
             if (!PyCallable_Check(fn.ptr()))
               throw py::type_error("PythonNode: fn must be callable, got " + type_name(fn));
             if (num_outputs < 1)
               throw py::value_error("PythonNode: num_outputs must be >= 1, got " +
                                     std::to_string(num_outputs));
             return std::make_unique<PythonNode>(std::move(fn), edges_from(edges, "PythonNode"),
                                                 num_outputs);
           }),
           py::arg("fn"), py::arg("edges"), py::arg("num_outputs") = 1,
           "A backward in Python. fn(grad) (one output) or fn([g0, .., gn-1]) (several; None\n"
           "where an output got no gradient) returns one gradient (array or None) per edge.");
}

}  // namespace kiln::tape
