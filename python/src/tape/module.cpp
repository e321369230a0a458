// kiln._tape: the module init. Binds the node types, leaves, view nodes and the walker, and
// exports the table kiln._C needs to derive its native nodes from Node (node.hpp's Api) as
// the capsule kiln._tape._C_API.
#include <atomic>

#include "tape_internal.hpp"

namespace kiln::tape {
namespace {

std::atomic<long long> g_seq_counter{0};

Api g_api{kApiVersion,     sizeof(Node), sizeof(Edge), &g_seq_counter, nullptr,
          &defer_decref,   &parse_edges_api};

}  // namespace
}  // namespace kiln::tape

PYBIND11_MODULE(_tape, m) {
  namespace tape = kiln::tape;
  m.doc() = "kiln's tape: graph nodes (native or Python), leaves, the gradient buffer, the walker";
  tape::api_pointer() = &tape::g_api;
  tape::bind_node_types(m);
  tape::g_api.node_type = reinterpret_cast<PyTypeObject*>(m.attr("Node").ptr());
  tape::bind_leaf(m);
  tape::bind_view_nodes(m);
  tape::bind_grad_math(m);
  tape::bind_walker(m);
  m.attr("_C_API") = pybind11::capsule(&tape::g_api, "kiln._tape._C_API");
}
