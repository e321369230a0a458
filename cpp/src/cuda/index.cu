// kiln CUDA: gather and scatter by element offsets (kiln/cuda/tensor.hpp).
//
// The backend turns every advanced index (integer arrays, boolean masks, take/put along an
// axis) into the element offsets it addresses, so one gather and two scatters serve them all.
// Gathers and plain scatters move bytes (only the element size matters); scatter_add adds
// with atomics, so repeated offsets add up as NumPy's add.at (in an order that may differ
// from run to run, and so may the last bits of a float sum).
#include <cstdint>
#include <string>

#include "check.hpp"
#include "grid.hpp"
#include "launch.hpp"
#include "strided.cuh"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 256;

template <class T>
__global__ void __launch_bounds__(kThreads) gather_kernel(index_t n, const T* base, const index_t* offsets, T* out) {
  KILN_GRID_STRIDE(i, n) out[i] = base[offsets[i]];
}

template <class T>
__global__ void __launch_bounds__(kThreads) scatter_kernel(index_t n, T* base, const index_t* offsets, const T* values) {
  KILN_GRID_STRIDE(i, n) base[offsets[i]] = values[i];
}

template <class T>
__global__ void __launch_bounds__(kThreads) scatter_add_kernel(index_t n, T* base, const index_t* offsets,
                                                                const T* values) {
  KILN_GRID_STRIDE(i, n) {
    if constexpr (sizeof(T) == 8 && !detail::kFloating<T>) {
      // Two's complement: an unsigned add is a signed one.
      atomicAdd(reinterpret_cast<unsigned long long*>(base + offsets[i]), static_cast<unsigned long long>(values[i]));
    } else {
      atomicAdd(base + offsets[i], values[i]);
    }
  }
}

// f(T{}) for an unsigned type of the dtype's size.
template <class F>
void with_size(DType dtype, F&& f) {
  switch (dtype_size(dtype)) {
    case 1: return f(std::uint8_t{});
    case 2: return f(std::uint16_t{});
    case 4: return f(std::uint32_t{});
    default: return f(std::uint64_t{});
  }
}

template <class Kernel, class... Args>
void run(const char* fn, index_t n, cudaStream_t stream, Kernel kernel, Args... args) {
  if (n < 0) throw std::invalid_argument(std::string(fn) + ": negative count");
  if (n == 0) return;
  const cudaError_t error = launch(kernel, dim3(detail::grid_stride_blocks(n, kThreads)), dim3(kThreads), 0,
                                   stream, n, args...);
  detail::throw_if_failed(error, fn, "n=" + std::to_string(n));
}

}  // namespace

void gather(index_t n, const void* base, const index_t* offsets, void* out, DType dtype, cudaStream_t stream) {
  with_size(dtype, [&](auto zero) {
    using T = decltype(zero);
    run("gather", n, stream, gather_kernel<T>, static_cast<const T*>(base), offsets, static_cast<T*>(out));
  });
}

void scatter(index_t n, void* base, const index_t* offsets, const void* values, DType dtype, cudaStream_t stream) {
  with_size(dtype, [&](auto zero) {
    using T = decltype(zero);
    run("scatter", n, stream, scatter_kernel<T>, static_cast<T*>(base), offsets, static_cast<const T*>(values));
  });
}

void scatter_add(index_t n, void* base, const index_t* offsets, const void* values, DType dtype,
                 cudaStream_t stream) {
  constexpr const char* kFn = "scatter_add";
  auto go = [&](auto zero) {
    using T = decltype(zero);
    run(kFn, n, stream, scatter_add_kernel<T>, static_cast<T*>(base), offsets, static_cast<const T*>(values));
  };
  switch (dtype) {
    case DType::float32: return go(float{});
    case DType::float64: return go(double{});
    case DType::int32: return go(int{});
    case DType::int64: return go(std::int64_t{});
    default: throw std::invalid_argument("scatter_add: takes float32, float64, int32 or int64 values");
  }
}

}  // namespace kiln::cuda
