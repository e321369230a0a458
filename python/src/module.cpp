// kiln._C: the pybind11 module over the C++ kernels. Private: the public API is
// kiln.ops, which prepares arguments and allocates outputs. Every function here
// takes its outputs as arguments and writes them in place.
#include <pybind11/pybind11.h>

#include "bindings.hpp"
#include "kiln/cpu_info.hpp"
#include "kiln/threads.hpp"
#include "nodes/nodes.hpp"
#include "tape/node.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_C, m) {
  m.doc() = "kiln's C++ kernels (private; use kiln.ops)";
  // The native tape nodes derive from kiln._tape.Node: that module (and its table) first.
  kiln::tape::import_api();
  m.def("set_num_threads", &kiln::set_num_threads, py::arg("n"));
  m.def("get_num_threads", &kiln::get_num_threads);
  m.def("cpu_isa", &kiln::cpu_isa, "The instruction set the CPU kernels were chosen for.");
  kiln::bind::bind_matmul(m);
  kiln::bind::bind_linear(m);
  kiln::bind::bind_lstm(m);
  kiln::bind::bind_adam(m);
  kiln::bind::bind_embedding(m);
  kiln::bind::bind_loss(m);
  kiln::bind::bind_activation(m);
  kiln::bind::bind_conv2d(m);
  kiln::bind::bind_pool2d(m);
  kiln::bind::bind_sparse_matmul(m);
  kiln::nodes::bind_linear_node(m);
  kiln::nodes::bind_activation_node(m);
  kiln::nodes::bind_loss_node(m);
  kiln::nodes::bind_conv2d_node(m);
  kiln::nodes::bind_pool2d_nodes(m);
  kiln::nodes::bind_embedding_node(m);
  kiln::nodes::bind_lstm_nodes(m);
  // attention
  kiln::bind::bind_attention(m);
  // normalization
  kiln::bind::bind_norm(m);
  // conv/pool breadth
  kiln::bind::bind_conv_transpose2d(m);
  kiln::bind::bind_adaptive_pool2d(m);
  // gru
  kiln::bind::bind_gru(m);
}
