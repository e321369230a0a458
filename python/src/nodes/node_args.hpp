// What every native tape node of kiln._C needs: edges (through kiln._tape's table), the
// arrays it saves for backward, the gradient it receives, the gradients it returns.
//
// A node factory (linear_node, conv2d_node, ...) is called by the Python layer right after
// the forward; a fused op (linear_op, activation_op, cross_entropy_op: the small layers,
// whose Python between kernels would rival their kernels) runs the forward and builds the
// node in one call, or returns None for arrays it does not take as they are. It returns None, having done nothing, when a saved array is not float32
// (the layer then records a Python closure, which works for every dtype and backend);
// otherwise it checks the shapes it depends on (a wrong one would make a kernel read out of
// bounds) and builds the node. Saved float32 arrays in other layouts are copied to
// C-contiguous once, here. A gradient is computed only for an input whose edge is not
// None; the node returns None (a null object) for the others.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <type_traits>
#include <memory>
#include <stdexcept>
#include <vector>

#include "kiln/common.hpp"
#include "arrays.hpp"
#include "tape/node.hpp"

namespace kiln::nodes {

namespace py = pybind11;
using tape::Edge;
using tape::Node;

// The edges of a node with one of `counts` inputs (ValueError naming fn otherwise).
std::vector<Edge> node_edges(const char* fn, py::handle edges, std::initializer_list<std::size_t> counts);

// A saved float32 array as C-contiguous (a copy when it is not); null (false) when obj is
// not a float32 ndarray: the factory then returns None.
py::array saved_f32(py::handle obj);
// The same for an optional array: None gives a null array and sets *ok; anything else as
// saved_f32, *ok false when that fails.
py::array saved_optional_f32(py::handle obj, bool* ok);
// A float32 C-contiguous ndarray: what a fused op (X_op) takes; anything else sends the
// layer down the general road, which converts it or says what is wrong.
inline bool plain_f32(py::handle obj) {
  return py::isinstance<py::array_t<float>>(obj) &&
         (py::reinterpret_borrow<py::array>(obj).flags() & py::array::c_style);
}
// Saved int64 indices, C-contiguous; null when obj is not an int64 ndarray.
py::array saved_i64(py::handle obj);

// The gradient a node receives, as float32 C-contiguous (converted when it is not).
py::array grad_f32(const char* fn, py::handle g);
// A null array (py::array() would be an empty one, not null).
inline py::array null_array() { return py::reinterpret_borrow<py::array>(py::handle()); }
// A new float32 array of `shape` when wanted, else null.
py::array new_f32_if(bool wanted, const std::vector<index_t>& shape);
// The gradient as returned to the walker: null for a null array.
inline py::object result(const py::array& a) { return a ? py::object(a) : py::object(); }

std::vector<index_t> shape_of(const py::array& a);
// A sequence of ints (TypeError naming fn and arg otherwise).
std::vector<index_t> shape_arg(const char* fn, const char* arg, py::handle obj);
// Fails with ValueError "fn: arg must have shape ..., got ..." unless a has `shape`.
void require_shape(const char* fn, const char* arg, const py::array& a, const std::vector<index_t>& shape);
index_t product(const std::vector<index_t>& shape);

// A node as a Python object of its bound class.
template <class T>
py::object wrap(std::unique_ptr<T> node) {
  return py::cast(std::move(node));
}

// Bind node class T (derived from kiln._tape.Node) in kiln._C. tape::node_of reads a
// node's C++ pointer as the Node's: true for single, non-virtual inheritance from the
// polymorphic Node, which this checks.
template <class T>
void bind_node_class(py::module_& m, const char* name, const char* doc) {
  static_assert(std::is_base_of_v<Node, T> && std::is_final_v<T>, "a tape node class derives from Node");
  alignas(T) static unsigned char probe[sizeof(T)];
  if (static_cast<void*>(static_cast<Node*>(reinterpret_cast<T*>(probe))) != static_cast<void*>(probe))
    throw std::logic_error(std::string(name) + ": Node is not at the start of the object");
  py::class_<T, Node>(m, name, py::is_final(), doc);
}

}  // namespace kiln::nodes
