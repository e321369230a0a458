// kiln CUDA: index-range checks on the device (kiln/cuda/checks.hpp), the grid sizing
// and the per-stream scratch buffers of device_util.cuh.
#include "kiln/cuda/checks.hpp"

#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "check.hpp"
#include "device_util.cuh"
#include "launch.hpp"

namespace kiln::cuda {
namespace detail {

unsigned grid_for(index_t work, int threads, int per_multiprocessor) {
  int device = 0, count = 1;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device) != cudaSuccess ||
      count < 1)
    count = 1;  // the launch reports the device's error
  const index_t wanted = (work + threads - 1) / threads;
  const index_t most = static_cast<index_t>(count) * per_multiprocessor;
  const index_t blocks = wanted < most ? wanted : most;
  return static_cast<unsigned>(blocks > 0 ? blocks : 1);
}

void* stream_scratch(cudaStream_t stream, std::size_t bytes, const char* fn) {
  struct Buffer {
    void* ptr = nullptr;
    std::size_t bytes = 0;
  };
  // Kept for the process and never destroyed: no cudaFree after the runtime's own teardown
  // at exit, and the buffers stay reachable (not leaks) for LeakSanitizer.
  static std::mutex& mutex = *new std::mutex;
  static auto& buffers = *new std::map<std::pair<int, cudaStream_t>, Buffer>;
  int device = 0;
  throw_if_failed(cudaGetDevice(&device), fn, "scratch");
  std::lock_guard<std::mutex> lock(mutex);
  Buffer& b = buffers[{device, stream}];
  if (b.bytes < bytes) {
    // Growing waits for the stream's work on the old buffer; it happens a few times at most.
    if (b.ptr) {
      throw_if_failed(cudaStreamSynchronize(stream), fn, "scratch");
      cudaFree(b.ptr);
      b = Buffer{};
    }
    std::size_t size = 4096;
    while (size < bytes) size *= 2;
    throw_if_failed(cudaMalloc(&b.ptr, size), fn, "scratch of " + std::to_string(size) + " bytes");
    b.bytes = size;
  }
  return b.ptr;
}

}  // namespace detail

namespace {

constexpr int kThreads = 256;

template <class T>
__global__ void __launch_bounds__(kThreads)
    out_of_range_kernel(const T* values, index_t n, std::int64_t limit, bool skip_enabled,
                        std::int64_t skip, unsigned long long* first_bad) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const std::int64_t v = values[i];
    if ((v < 0 || v >= limit) && !(skip_enabled && v == skip)) {
      atomicMin(first_bad, static_cast<unsigned long long>(i));
      return;  // later positions of this thread are larger
    }
  }
}

template <class T>
BadIndex find_bad(const T* values, index_t n, std::int64_t limit, bool skip_enabled,
                  std::int64_t skip, cudaStream_t stream, const char* fn) {
  BadIndex bad;
  if (n <= 0) return bad;
  const std::string sizes = "n=" + std::to_string(n);
  auto* word = static_cast<unsigned long long*>(detail::stream_scratch(stream, 8, fn));
  detail::throw_if_failed(cudaMemsetAsync(word, 0xff, 8, stream), fn, sizes);
  detail::throw_if_failed(launch(out_of_range_kernel<T>, dim3(detail::grid_for(n, kThreads)),
                                 dim3(kThreads), 0, stream, values, n, limit, skip_enabled, skip,
                                 word),
                          fn, sizes);
  unsigned long long first = 0;
  detail::throw_if_failed(cudaMemcpyAsync(&first, word, 8, cudaMemcpyDeviceToHost, stream), fn, sizes);
  detail::throw_if_failed(cudaStreamSynchronize(stream), fn, sizes);
  if (first == ~0ull) return bad;
  T value{};
  detail::throw_if_failed(cudaMemcpy(&value, values + first, sizeof(T), cudaMemcpyDeviceToHost), fn, sizes);
  bad.position = static_cast<index_t>(first);
  bad.value = value;
  return bad;
}

}  // namespace

BadIndex find_out_of_range(const std::int64_t* values, index_t n, std::int64_t limit,
                           bool skip_enabled, std::int64_t skip, cudaStream_t stream, const char* fn) {
  return find_bad(values, n, limit, skip_enabled, skip, stream, fn);
}
BadIndex find_out_of_range(const std::int32_t* values, index_t n, std::int64_t limit,
                           bool skip_enabled, std::int64_t skip, cudaStream_t stream, const char* fn) {
  return find_bad(values, n, limit, skip_enabled, skip, stream, fn);
}

}  // namespace kiln::cuda
