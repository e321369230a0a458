// One registration function per kernel family, each in its own bind_*.cpp.
#pragma once

#include <pybind11/pybind11.h>

namespace kiln::bind {

void bind_matmul(pybind11::module_& m);
void bind_linear(pybind11::module_& m);
void bind_lstm(pybind11::module_& m);
void bind_adam(pybind11::module_& m);
void bind_embedding(pybind11::module_& m);
void bind_loss(pybind11::module_& m);
void bind_activation(pybind11::module_& m);
void bind_conv2d(pybind11::module_& m);
void bind_pool2d(pybind11::module_& m);
void bind_sparse_matmul(pybind11::module_& m);
// attention
void bind_attention(pybind11::module_& m);
// normalization
void bind_norm(pybind11::module_& m);
// conv/pool breadth
void bind_conv_transpose2d(pybind11::module_& m);
void bind_adaptive_pool2d(pybind11::module_& m);
// gru
void bind_gru(pybind11::module_& m);

}  // namespace kiln::bind
