// The native tape nodes of kiln._C, one kernel family per file; each registers its node
// class and its factory function (X_node(edges, ...)).
#pragma once

#include <pybind11/pybind11.h>

namespace kiln::nodes {

void bind_linear_node(pybind11::module_& m);
void bind_activation_node(pybind11::module_& m);
void bind_loss_node(pybind11::module_& m);
void bind_conv2d_node(pybind11::module_& m);
void bind_pool2d_nodes(pybind11::module_& m);
void bind_embedding_node(pybind11::module_& m);
void bind_lstm_nodes(pybind11::module_& m);

}  // namespace kiln::nodes
