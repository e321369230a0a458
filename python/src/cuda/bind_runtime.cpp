// kiln._cuda: the device itself: how many, which, emulated or not, synchronisation, errors.
#include <string>

#include "bindings.hpp"
#include "kiln/cuda/runtime.hpp"

namespace py = pybind11;

namespace kiln::python::cuda {
namespace {

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // no driver or no device: none, not an error
    return 0;
  }
  return count;
}

void check(cudaError_t error, const char* what) {
  if (error != cudaSuccess)
    throw std::runtime_error(std::string(what) + ": CUDA error " + cudaGetErrorName(error) + ": " +
                             cudaGetErrorString(error));
}

}  // namespace

void bind_runtime(py::module_& m) {
#if defined(KILN_CUDA_EMULATED)
  m.attr("emulated") = true;
#else
  m.attr("emulated") = false;
#endif
  m.def("device_count", &device_count, "Number of CUDA devices (the emulated device counts as one).");
  m.def("device_name", [](int device) {
    cudaDeviceProp p{};
    check(cudaGetDeviceProperties(&p, device), "device_name");
    return std::string(p.name);
  });
  m.def("multiprocessor_count", [](int device) {
    int count = 0;
    check(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device), "multiprocessor_count");
    return count;
  });
  m.def("synchronize", [] {
    py::gil_scoped_release release;
    check(cudaDeviceSynchronize(), "synchronize (an earlier kernel failed)");
  }, "Wait for all work on the device; raises RuntimeError for an earlier asynchronous failure.");
}

}  // namespace kiln::python::cuda
