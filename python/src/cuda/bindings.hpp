// kiln._cuda: the device backend's native module, one bind_*.cpp per area.
// Bindings take device pointers as integers (std::uintptr_t), a stream as an integer
// (0: the default stream) and plain sizes; the Python backend (kiln/backends/cuda/) checks
// and lays out the arrays, so these parse nothing else.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>

#include "kiln/cuda/runtime.hpp"

namespace kiln::python::cuda {

inline cudaStream_t as_stream(std::uintptr_t stream) { return reinterpret_cast<cudaStream_t>(stream); }
template <class T>
T* as_pointer(std::uintptr_t address) {
  return reinterpret_cast<T*>(address);
}

void bind_runtime(pybind11::module_& m);
void bind_nn(pybind11::module_& m);  // pooling, embedding, CSR, losses, activations, softmax, Philox
void bind_memory(pybind11::module_& m);
void bind_tensor(pybind11::module_& m);
void bind_adam(pybind11::module_& m);
void bind_dlpack(pybind11::module_& m);
void bind_linalg(pybind11::module_& m);
// attention
void bind_attention(pybind11::module_& m);
// normalization
void bind_norm(pybind11::module_& m);
// conv/pool breadth: transposed convolution, adaptive pooling
void bind_conv_pool(pybind11::module_& m);
// gru
void bind_gru(pybind11::module_& m);

}  // namespace kiln::python::cuda
