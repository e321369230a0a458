// kiln's one tape walker: the backward pass over a graph of nodes, native or Python.
//
// Order: every node reachable from the root through edges, sorted by creation number,
// newest first (a node is always created after the nodes its edges point to, so this runs
// a node only once everything computed from it has run). Each node runs once, with, per
// output, the sum of the gradients that reached it, summed in the order the nodes that
// sent them ran. That is the order of the Python walker this replaced
// (kiln.autograd.run_backward and _topological_order), so gradients stay bit for bit the
// same. Reads no Python attribute: the graph is the nodes' edges.
#include <algorithm>
#include <string>
#include <unordered_map>
#include <vector>

#include "tape_internal.hpp"

namespace kiln::tape {
namespace {

double g_python_seconds = 0.0;            // all threads (each adds with the GIL held)
thread_local int g_walk_depth = 0;        // this thread's run_backward calls in progress
thread_local int g_python_depth = 0;      // and its InPython scopes

// One node of the walk: its Python object (held for the whole walk, so releasing a node's
// edges frees nothing the walk still visits) and the gradients its outputs have received.
struct Visit {
  Node* node;
  py::object owner;
  std::vector<py::object> grads;
};

void run_backward(py::handle root, py::handle grad, bool retain_graph) {
  Edge start = edge_from(root, "run_backward: root", /*allow_none=*/false);
  if (grad.is_none())
    throw py::type_error("run_backward: grad must be d loss / d root (an array), got None");
  WalkScope scope;

  // Collect, depth first without recursion, in the Python walker's order (a node is marked
  // seen when first pushed; its edges are pushed in order).
  std::vector<Visit> order;
  std::unordered_map<Node*, std::size_t> index;
  std::vector<std::pair<Node*, PyObject*>> stack{{start.node, start.target.ptr()}};
  index.emplace(start.node, 0);
  while (!stack.empty()) {
    auto [node, owner] = stack.back();
    stack.pop_back();
    order.push_back(Visit{node, py::reinterpret_borrow<py::object>(owner),
                          std::vector<py::object>(static_cast<std::size_t>(node->num_outputs))});
    for (const Edge& e : node->edges) {
      if (!e || !index.emplace(e.node, 0).second) continue;
      stack.emplace_back(e.node, e.target.ptr());  // alive: e.target holds it, nothing runs yet
    }
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const Visit& a, const Visit& b) { return a.node->seq > b.node->seq; });
  for (std::size_t i = 0; i < order.size(); ++i) index[order[i].node] = i;
  order[index[start.node]].grads[static_cast<std::size_t>(start.slot)] =
      py::reinterpret_borrow<py::object>(grad);

  for (std::size_t i = 0; i < order.size(); ++i) {
    Visit& visit = order[i];
    bool any = false;
    for (const py::object& g : visit.grads) any = any || static_cast<bool>(g);
    if (!any) continue;
    Node* node = visit.node;
    std::vector<py::object> out = node->apply(std::move(visit.grads));
    // Python runs inside apply and inside a sum (hooks), and may release this node: its edges
    // are re-read, bounds checked, at every step (the walk's own references keep every node
    // it visits alive).
    for (std::size_t k = 0; k < out.size() && k < node->edges.size(); ++k) {
      Node* to = node->edges[k].node;
      const std::size_t slot = static_cast<std::size_t>(node->edges[k].slot);
      py::object g = std::move(out[k]);
      if (!to || !g || g.is_none()) continue;
      auto found = index.find(to);
      if (found == index.end()) continue;
      if (found->second <= i)
        throw std::logic_error("kiln._tape: an edge to a node created later (seq " + std::to_string(to->seq) +
                               " from seq " + std::to_string(node->seq) + ")");
      py::object& sum = order[found->second].grads[slot];
      sum = sum ? grad_sum(sum, g) : std::move(g);
    }
    if (!retain_graph) node->release();
  }
}

}  // namespace

WalkScope::WalkScope() { ++g_walk_depth; }
WalkScope::~WalkScope() { --g_walk_depth; }

InPython::InPython() : timing_(g_walk_depth > 0 && g_python_depth == 0) {
  ++g_python_depth;
  if (timing_) start_ = std::chrono::steady_clock::now();
}

InPython::~InPython() {
  --g_python_depth;
  if (timing_)
    g_python_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double python_seconds() { return g_python_seconds; }

void bind_walker(py::module_& m) {
  m.def("run_backward", &run_backward, py::arg("root"), py::arg("grad"), py::arg("retain_graph"),
        "Backward from root (a Node, Output or Leaf) with grad = d loss / d root: every node\n"
        "reachable through edges runs once, newest first, with the sum of the gradients of each\n"
        "output; leaves accumulate theirs. Without retain_graph each node is released after it\n"
        "runs.");
  m.def("python_seconds", &python_seconds,
        "Seconds run_backward has spent in Python (PythonNode functions and array hooks).");
}

}  // namespace kiln::tape
