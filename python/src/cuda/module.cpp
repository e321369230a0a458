// kiln._cuda: built only when KILN_CUDA is ON (a GPU) or EMULATE (the emulated device).
#include "bindings.hpp"

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "kiln's CUDA kernels and device memory (used by kiln.backends.cuda)";
  using namespace kiln::python::cuda;
  bind_runtime(m);
  bind_nn(m);
  bind_memory(m);
  bind_tensor(m);
  bind_adam(m);
  bind_dlpack(m);
  bind_linalg(m);
  // attention
  bind_attention(m);
  // normalization
  bind_norm(m);
  // conv/pool breadth
  bind_conv_pool(m);
  // gru
  bind_gru(m);
}
