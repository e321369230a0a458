// Tests of CUDA code (emulated device or a GPU): CUDA_OK and device buffers.
#pragma once

#include <cstddef>
#include <cstdio>
#include <vector>

#include "check.hpp"
#include "kiln/cuda/runtime.hpp"

// CUDA_OK(cudaMemcpy(...)): counts a failure, naming the error, unless it returned cudaSuccess.
#define CUDA_OK(call)                                                                   \
  do {                                                                                  \
    const cudaError_t cuda_ok_error_ = (call);                                          \
    if (cuda_ok_error_ != cudaSuccess) {                                                \
      std::printf("%s:%d: %s returned %s\n", __FILE__, __LINE__, #call,                 \
                  cudaGetErrorName(cuda_ok_error_));                                    \
      ++failures();                                                                     \
    }                                                                                   \
  } while (0)

// CUDA_FAILS(call, cudaErrorX): the call must return exactly that error.
#define CUDA_FAILS(call, expected)                                                      \
  do {                                                                                  \
    const cudaError_t cuda_fails_error_ = (call);                                       \
    if (cuda_fails_error_ != (expected)) {                                              \
      std::printf("%s:%d: %s returned %s, expected %s\n", __FILE__, __LINE__, #call,    \
                  cudaGetErrorName(cuda_fails_error_), cudaGetErrorName(expected));     \
      ++failures();                                                                     \
    }                                                                                   \
  } while (0)

// ctest's "skipped" (SKIP_RETURN_CODE 77 in cpp/tests/CMakeLists.txt).
constexpr int kSkipped = 77;

// True when there is a CUDA device (a GPU, or the emulated one); says "skipped" otherwise.
inline bool cuda_device_present() {
  int count = 0;
  if (cudaGetDeviceCount(&count) == cudaSuccess && count > 0) return true;
  std::printf("no CUDA device: skipped\n");
  return false;
}

// A device array of n T, freed at scope exit.
template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t n) : n_(n) { CUDA_OK(cudaMalloc(&p_, n * sizeof(T))); }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { cudaFree(p_); }
  T* get() const { return p_; }
  std::size_t size() const { return n_; }
  void upload(const std::vector<T>& host) {
    CUDA_OK(cudaMemcpy(p_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  std::vector<T> download() const {
    std::vector<T> host(n_);
    CUDA_OK(cudaMemcpy(host.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }

 private:
  T* p_ = nullptr;
  std::size_t n_;
};
