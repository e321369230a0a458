// kiln::tape::Node, the one node type of kiln's tape, shared by two extension modules.
//
// kiln._tape (python/src/tape/) binds Node and owns everything process-wide: the creation
// counter, the walker, leaves. kiln._C derives its native backward nodes (linear, conv2d,
// LSTM, ...) from Node and includes this header. Both modules are built with hidden
// visibility and loaded by Python with RTLD_LOCAL, so:
//
//  - nothing here may have state of its own: an inline/static variable in a header exists
//    once per module. The one counter and the deferred-release queue live in kiln._tape and
//    reach kiln._C through a capsule (kiln._tape._C_API, the `Api` table below), the way
//    NumPy shares its C API;
//  - every function here is inline (kiln._C cannot link against kiln._tape's symbols);
//  - the Python side of inheritance goes through pybind11's shared registry, which finds a
//    base class bound in another module by its type name (libstdc++ compares type_info by
//    name; pybind11 hashes and compares by name itself under libc++), so
//    py::class_<LinearNode, tape::Node> in kiln._C finds kiln._tape's Node.
//    kiln._C checks at import that the Node it sees is kiln._tape's (import_api).
#pragma once

#include <pybind11/pybind11.h>

#include <atomic>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace kiln::tape {

namespace py = pybind11;

class Node;

// An input of a node: where its gradient goes. Empty (node null): no gradient wanted.
struct Edge {
  py::object target;     // the target's Python object: keeps the node alive
  Node* node = nullptr;  // the C++ node inside target
  int slot = 0;          // which output of node this input was
  explicit operator bool() const noexcept { return node != nullptr; }
};

// The table kiln._tape exports. C-style (no exception crosses the module boundary):
// parse_edges returns -1 with a Python error set.
struct Api {
  int version;
  std::size_t node_size, edge_size;      // layout check between the two builds
  std::atomic<long long>* seq_counter;   // the process-wide creation counter
  PyTypeObject* node_type;               // kiln._tape.Node
  void (*defer_decref)(PyObject* owned);  // drop a reference without recursing (see Node::drop)
  int (*parse_edges)(PyObject* sequence, std::vector<Edge>* out);
};
constexpr int kApiVersion = 1;

// This module's pointer to the table (one per module, which is the point).
inline const Api*& api_pointer() {
  static const Api* api = nullptr;
  return api;
}
inline const Api& api() { return *api_pointer(); }

// The C++ node inside a Python object of kiln._tape.Node (or a subclass), null otherwise.
// pybind11 keeps a pointer to the C++ object of the most derived bound type; every node
// type derives from Node alone (single, non-virtual inheritance from a polymorphic base),
// so that pointer is the Node's, as pybind11 itself assumes for such "simple" types.
inline Node* node_of(PyObject* obj) noexcept {
  if (!PyObject_TypeCheck(obj, api().node_type)) return nullptr;
  auto* inst = reinterpret_cast<py::detail::instance*>(obj);
  py::detail::value_and_holder vh = inst->get_value_and_holder(nullptr, false);
  if (!vh || !vh.holder_constructed()) return nullptr;
  return static_cast<Node*>(vh.value_ptr());
}

class Node {
 public:
  virtual ~Node() {
    for (Edge& e : edges) drop(e.target);
  }
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // grads: one per output, null (or None) where that output got no gradient. Returns one
  // gradient per edge, null where none. Raises once released. All-null in, all-null out.
  std::vector<py::object> apply(std::vector<py::object> grads) {
    if (released)
      throw std::runtime_error(
          "backward through a graph a second time: its saved arrays are freed "
          "(pass retain_graph=True to the first backward)");
    if (grads.size() != static_cast<std::size_t>(num_outputs))
      throw py::value_error("a tape node with " + std::to_string(num_outputs) +
                            " outputs got " + std::to_string(grads.size()) + " gradients");
    bool any = false;
    for (py::object& g : grads) {
      if (g && g.is_none()) g = py::object();
      any = any || static_cast<bool>(g);
    }
    if (!any) return std::vector<py::object>(edges.size());
    return backward(grads);
  }

  // After a backward without retain_graph: saved state and edges go; apply then raises.
  // Leaves are never released (they outlive every graph).
  void release() {
    if (is_leaf || released) return;
    released = true;
    release_saved();
    for (Edge& e : edges) drop(e.target);
    edges.clear();
  }

  // For the garbage collector (kiln._tape.Node's tp_traverse): every Python object the node
  // holds that could lead back to it. Saved ndarrays cannot, so native nodes add nothing.
  virtual int traverse(visitproc visit, void* arg) {
    for (Edge& e : edges) Py_VISIT(e.target.ptr());
    return 0;
  }

  std::vector<Edge> edges;
  const long long seq;   // creation number; 0 for leaves
  const int num_outputs;
  const bool is_leaf;
  bool released = false;

 protected:
  Node(std::vector<Edge> edges_in, int outputs, bool leaf = false)
      : edges(std::move(edges_in)),
        seq(leaf ? 0 : api().seq_counter->fetch_add(1, std::memory_order_relaxed) + 1),
        num_outputs(outputs),
        is_leaf(leaf) {}

  // The gradients of the inputs (one per edge, null where none) from those of the outputs.
  virtual std::vector<py::object> backward(std::vector<py::object>& grads) = 0;
  // Drop whatever the node saved for backward (release()).
  virtual void release_saved() {}

  // Let go of a Python reference without recursing: a chain of 10^5 nodes would otherwise
  // free itself 10^5 destructor calls deep. kiln._tape queues it and frees the queue in a
  // loop; a node freed from the queue queues its own edges.
  static void drop(py::object& obj) {
    if (obj) api().defer_decref(obj.release().ptr());
  }
};

// For a module other than kiln._tape: import it and read its table (ImportError if stale).
inline void import_api() {
  py::module_ tape = py::module_::import("kiln._tape");
  py::object capsule = tape.attr("_C_API");
  auto* table = static_cast<const Api*>(PyCapsule_GetPointer(capsule.ptr(), "kiln._tape._C_API"));
  if (!table) throw py::error_already_set();
  if (table->version != kApiVersion || table->node_size != sizeof(Node) ||
      table->edge_size != sizeof(Edge))
    throw py::import_error("kiln._C and kiln._tape were built from different sources; rebuild kiln");
  // The type-identity check: pybind11's registry must map kiln::tape::Node, as this module
  // names it, to kiln._tape's class, or py::class_<X, Node> would fail (or worse, bind a
  // second Node). It does wherever type_info compares by name (see the top of this file).
  const py::detail::type_info* info = py::detail::get_type_info(typeid(Node));
  if (!info || info->type != table->node_type)
    throw py::import_error("kiln._C does not see kiln._tape.Node as kiln::tape::Node (built with a "
                           "different pybind11 or C++ library?); rebuild kiln");
  api_pointer() = table;
}

}  // namespace kiln::tape
