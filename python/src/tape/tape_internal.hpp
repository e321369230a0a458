// What the files of kiln._tape share with each other (kiln._C sees only node.hpp).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <chrono>
#include <vector>

#include "node.hpp"

namespace kiln::tape {

// ---- edges and deferred release (node_types.cpp) ----------------------------------------

// Output k > 0 of a multi-output node, as the Python side hands it around.
struct Output {
  py::object node;  // the node's Python object
  Node* ptr;
  int slot;
};

// One edge from None (empty), a Node or Leaf (slot 0) or an Output; TypeError naming fn
// otherwise (or for None when allow_none is false).
Edge edge_from(py::handle obj, const char* fn, bool allow_none = true);
// A sequence of edge objects, as given to a node constructor.
std::vector<Edge> edges_from(py::handle sequence, const char* fn);
// Give up a reference; freed in a loop, never recursively (Node::drop).
void defer_decref(PyObject* owned);
// The C-style entry of Api::parse_edges.
int parse_edges_api(PyObject* sequence, std::vector<Edge>* out);

// pybind11's class setup for kiln._tape.Node: garbage-collector support (tp_traverse,
// tp_clear), inherited by every node type, here and in kiln._C.
void node_type_setup(PyHeapTypeObject* heap_type);

// ---- time spent in Python during a walk (walker.cpp) ------------------------------------

// Marks the extent of run_backward.
class WalkScope {
 public:
  WalkScope();
  ~WalkScope();
};

// Around a call into Python (a PythonNode's function, an array hook): counted into
// python_seconds() when inside a walk and not already inside Python.
class InPython {
 public:
  InPython();
  ~InPython();

 private:
  bool timing_;
  std::chrono::steady_clock::time_point start_;
};

double python_seconds();

// ---- gradient arithmetic (grad_math.cpp) -------------------------------------------------
// ndarrays in C++ or NumPy; anything else through the hooks of set_array_hooks.

// a + b as a new object (never in place: a node may return an array it still holds).
py::object grad_sum(py::handle a, py::handle b);
// A new copy of g.
py::object grad_copy(py::handle g);
// dst += src in place.
void grad_iadd(py::handle dst, py::handle src);
// dst[...] = src, src of dst's shape (ValueError naming `what` otherwise); nothing to do
// when src is dst's own memory. dst is an ndarray or a device array (the copy_into hook).
void grad_copy_into(py::handle dst, py::handle src, const char* what);
// g reshaped to shape / transposed by axes.
py::object grad_reshape(py::handle g, const std::vector<py::ssize_t>& shape);
py::object grad_transpose(py::handle g, const std::vector<py::ssize_t>& axes);

// A float32 C-contiguous ndarray (the arrays the C++ loops take as they are).
bool is_plain_f32(py::handle obj);

// ---- module parts --------------------------------------------------------------------

void bind_node_types(py::module_& m);
void bind_leaf(py::module_& m);
void bind_view_nodes(py::module_& m);
void bind_grad_math(py::module_& m);
void bind_walker(py::module_& m);

}  // namespace kiln::tape
