// kiln._cuda: device buffers from the caching allocator, and copies between host and device.
//
// A DeviceBuffer owns one block; kiln.backends.cuda's arrays are views of one buffer (an
// offset, a shape, strides), which keeps it alive. Host <-> device copies take any object
// with the buffer protocol (a C-contiguous ndarray) and release the GIL while they run.
#include <pybind11/pybind11.h>

#include <cstring>
#include <stdexcept>
#include <string>

#include "bindings.hpp"
#include "caching_allocator.hpp"

namespace py = pybind11;

namespace kiln::python::cuda {
namespace {

class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t nbytes)
      : data_(CachingAllocator::instance().allocate(nbytes)), nbytes_(nbytes) {}
  ~DeviceBuffer() { CachingAllocator::instance().release(data_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  std::uintptr_t ptr() const { return reinterpret_cast<std::uintptr_t>(data_); }
  std::size_t nbytes() const { return nbytes_; }

 private:
  void* data_;
  std::size_t nbytes_;
};

void check(cudaError_t error, const std::string& what) {
  if (error != cudaSuccess) {
    cudaGetLastError();
    throw std::runtime_error(what + ": CUDA error " + cudaGetErrorName(error) + ": " + cudaGetErrorString(error));
  }
}

py::buffer_info contiguous_buffer(const py::buffer& host, bool writable, const char* fn) {
  py::buffer_info info = host.request(writable);
  py::ssize_t expected = info.itemsize;
  for (py::ssize_t d = info.ndim - 1; d >= 0; --d) {
    if (info.shape[d] != 1 && info.strides[d] != expected)
      throw std::invalid_argument(std::string(fn) + ": the host array must be C-contiguous");
    expected *= info.shape[d];
  }
  return info;
}

}  // namespace

void bind_memory(py::module_& m) {
  py::class_<DeviceBuffer>(m, "DeviceBuffer", "A block of device memory from kiln's caching allocator.")
      .def(py::init<std::size_t>(), py::arg("nbytes"))
      .def_property_readonly("ptr", &DeviceBuffer::ptr)
      .def_property_readonly("nbytes", &DeviceBuffer::nbytes);

  m.def("copy_from_host", [](std::uintptr_t dst, const py::buffer& host) {
    const py::buffer_info info = contiguous_buffer(host, false, "copy_from_host");
    const std::size_t bytes = static_cast<std::size_t>(info.size * info.itemsize);
    if (bytes == 0) return;
    py::gil_scoped_release release;
    check(cudaMemcpy(as_pointer<void>(dst), info.ptr, bytes, cudaMemcpyHostToDevice),
          "copy to the device (" + std::to_string(bytes) + " bytes)");
  }, py::arg("dst"), py::arg("host"));
  m.def("copy_to_host", [](const py::buffer& host, std::uintptr_t src) {
    const py::buffer_info info = contiguous_buffer(host, true, "copy_to_host");
    const std::size_t bytes = static_cast<std::size_t>(info.size * info.itemsize);
    if (bytes == 0) return;
    py::gil_scoped_release release;
    check(cudaMemcpy(info.ptr, as_pointer<void>(src), bytes, cudaMemcpyDeviceToHost),
          "copy to the host (" + std::to_string(bytes) + " bytes; or an earlier kernel failed)");
  }, py::arg("host"), py::arg("src"));
  m.def("copy_device", [](std::uintptr_t dst, std::uintptr_t src, std::size_t bytes, std::uintptr_t stream) {
    if (bytes == 0) return;
    check(cudaMemcpyAsync(as_pointer<void>(dst), as_pointer<void>(src), bytes, cudaMemcpyDeviceToDevice,
                          as_stream(stream)),
          "copy on the device (" + std::to_string(bytes) + " bytes)");
  }, py::arg("dst"), py::arg("src"), py::arg("nbytes"), py::arg("stream") = 0);

  m.def("memory_stats", [] {
    const MemoryStats s = CachingAllocator::instance().stats();
    py::dict d;
    d["allocated"] = s.allocated;
    d["max_allocated"] = s.max_allocated;
    d["reserved"] = s.reserved;
    return d;
  });
  m.def("empty_cache", [] { CachingAllocator::instance().empty_cache(); });
  m.def("reset_peak_memory_stats", [] { CachingAllocator::instance().reset_peak(); });
}

}  // namespace kiln::python::cuda
