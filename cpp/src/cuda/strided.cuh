// kiln CUDA: what the array primitives share: element offsets of strided operands, the dtype
// switch, and NumPy's conversions between dtypes.
#pragma once

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "cuda_compat.hpp"
#include "kiln/cuda/tensor.hpp"

// for (index_t i = first thread's index; i < n; i += every thread of the grid)
#define KILN_GRID_STRIDE(i, n)                                                             \
  for (index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<index_t>(blockDim.x) * gridDim.x)

namespace kiln::cuda::detail {

// Element offsets of N operands at a linear index of the common shape (C order). The host
// merges dimensions that are contiguous in every operand first, so most calls index one or
// two dimensions.
template <int N>
struct Offsets {
  int ndim = 0;
  index_t dims[kMaxDims] = {};
  index_t strides[N][kMaxDims] = {};

  __device__ __forceinline__ void at(index_t linear, index_t (&offset)[N]) const {
    for (int k = 0; k < N; ++k) offset[k] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const index_t i = linear % dims[d];
      linear /= dims[d];
      for (int k = 0; k < N; ++k) offset[k] += i * strides[k][d];
    }
  }
};

inline index_t element_count(const Shape& shape) {
  index_t n = 1;
  for (int d = 0; d < shape.ndim; ++d) n *= shape.dims[d];
  return n;
}

template <int N>
Offsets<N> make_offsets(const char* fn, const Shape& shape, const Operand* const (&operands)[N]) {
  if (shape.ndim < 0 || shape.ndim > kMaxDims)
    throw std::invalid_argument(std::string(fn) + ": at most " + std::to_string(kMaxDims) + " dimensions");
  Offsets<N> o;
  for (int d = 0; d < shape.ndim; ++d) {
    if (shape.dims[d] < 0) throw std::invalid_argument(std::string(fn) + ": negative dimension");
    if (shape.dims[d] == 1) continue;  // its strides never matter
    const int last = o.ndim - 1;
    bool merges = last >= 0;
    for (int k = 0; k < N && merges; ++k)
      merges = o.strides[k][last] == operands[k]->strides[d] * shape.dims[d];
    if (merges) {
      o.dims[last] *= shape.dims[d];
      for (int k = 0; k < N; ++k) o.strides[k][last] = operands[k]->strides[d];
    } else {
      o.dims[o.ndim] = shape.dims[d];
      for (int k = 0; k < N; ++k) o.strides[k][o.ndim] = operands[k]->strides[d];
      ++o.ndim;
    }
  }
  return o;
}

// f(T{}) for the C++ type of a dtype.
template <class F>
void with_dtype(DType dtype, const char* fn, F&& f) {
  switch (dtype) {
    case DType::bool_: return f(bool{});
    case DType::uint8: return f(std::uint8_t{});
    case DType::int8: return f(std::int8_t{});
    case DType::int16: return f(std::int16_t{});
    case DType::int32: return f(std::int32_t{});
    case DType::int64: return f(std::int64_t{});
    case DType::float32: return f(float{});
    case DType::float64: return f(double{});
  }
  throw std::invalid_argument(std::string(fn) + ": unknown dtype " + std::to_string(static_cast<int>(dtype)));
}

template <class T>
constexpr bool kFloating = std::is_floating_point_v<T>;

// Limits as constexpr variables: device code may read those (not call numeric_limits).
template <class T>
constexpr T kLowest = std::numeric_limits<T>::lowest();
template <class T>
constexpr T kHighest = std::numeric_limits<T>::max();

// NumPy's unsafe cast: a float outside an integer type's range (NaN included) becomes the
// type's lowest value, as x86's conversion gives, instead of C++'s undefined behaviour.
template <class To, class From>
__device__ __forceinline__ To convert(From v) {
  if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else if constexpr (kFloating<From> && std::is_integral_v<To>) {
    constexpr double lo = static_cast<double>(kLowest<To>);
    constexpr double hi = static_cast<double>(kHighest<To>);
    const double d = static_cast<double>(v);
    if (!(d >= lo && d < hi + 1.0)) {
      if constexpr (sizeof(To) >= 4) return kLowest<To>;
      else return static_cast<To>(static_cast<std::int32_t>(d >= -2147483648.0 && d < 2147483648.0 ? d : 0));
    }
    return static_cast<To>(v);
  } else {
    return static_cast<To>(v);
  }
}

template <class T>
__host__ __device__ __forceinline__ T scalar_as(Scalar s) {
  if constexpr (kFloating<T>) return static_cast<T>(s.real);
  else if constexpr (std::is_same_v<T, bool>) return s.integer != 0 || s.real != 0.0;
  else return static_cast<T>(s.integer);
}

}  // namespace kiln::cuda::detail
