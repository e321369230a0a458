// kiln CUDA: the elementwise array primitives (kiln/cuda/tensor.hpp): copy with conversion,
// fill, binary and unary operations, where.
//
// One grid-stride kernel per (operation, dtype) over strided operands: memory-bound, one
// read per input element and one write, whatever the layouts; dimensions contiguous in every
// operand are merged on the host, so a contiguous call indexes one dimension.
#include <cmath>
#include <cstdint>
#include <string>

#include "check.hpp"
#include "grid.hpp"
#include "launch.hpp"
#include "strided.cuh"

namespace kiln::cuda {
namespace {

using detail::convert;
using detail::kFloating;
using detail::Offsets;

constexpr int kThreads = 256;

std::string sizes(const Shape& shape) {
  std::string s = "shape=(";
  for (int d = 0; d < shape.ndim; ++d) s += (d ? "," : "") + std::to_string(shape.dims[d]);
  return s + ")";
}

template <class Kernel, class... Args>
void launch_over(const char* fn, const Shape& shape, cudaStream_t stream, Kernel kernel, Args... args) {
  const index_t n = detail::element_count(shape);
  if (n == 0) return;
  const cudaError_t error = launch(kernel, dim3(detail::grid_stride_blocks(n, kThreads)), dim3(kThreads), 0,
                                   stream, n, args...);
  detail::throw_if_failed(error, fn, sizes(shape));
}

// ---- copy and fill ----------------------------------------------------------------------

template <class To, class From>
__global__ void __launch_bounds__(kThreads) copy_kernel(index_t n, Offsets<2> o, To* dst, const From* src) {
  KILN_GRID_STRIDE(i, n) {
    index_t at[2];
    o.at(i, at);
    dst[at[0]] = convert<To>(src[at[1]]);
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads) fill_kernel(index_t n, Offsets<1> o, T* dst, T value) {
  KILN_GRID_STRIDE(i, n) {
    index_t at[1];
    o.at(i, at);
    dst[at[0]] = value;
  }
}

// ---- binary operations --------------------------------------------------------------------

template <class T>
__device__ __forceinline__ T integer_power(T base, T exponent) {
  if (exponent < 0) return T(0);  // NumPy refuses; kiln.ops never sends one
  T result = 1;
  while (exponent) {
    if (exponent & 1) result = static_cast<T>(result * base);
    base = static_cast<T>(base * base);
    exponent = static_cast<T>(exponent >> 1);
  }
  return result;
}

template <BinaryOp kOp, class T>
__device__ __forceinline__ auto apply(T a, T b) {
  if constexpr (kOp == BinaryOp::add) return static_cast<T>(a + b);
  else if constexpr (kOp == BinaryOp::subtract) return static_cast<T>(a - b);
  else if constexpr (kOp == BinaryOp::multiply) return static_cast<T>(a * b);
  else if constexpr (kOp == BinaryOp::divide) return static_cast<T>(a / b);
  else if constexpr (kOp == BinaryOp::power) {
    if constexpr (kFloating<T>) return static_cast<T>(pow(a, b));
    else return integer_power(a, b);
  }
  // maximum / minimum: NaN in either operand wins, as NumPy's.
  else if constexpr (kOp == BinaryOp::maximum) return (a != a || a > b) ? a : b;
  else if constexpr (kOp == BinaryOp::minimum) return (a != a || a < b) ? a : b;
  else if constexpr (kOp == BinaryOp::equal) return a == b;
  else if constexpr (kOp == BinaryOp::not_equal) return a != b;
  else if constexpr (kOp == BinaryOp::less) return a < b;
  else if constexpr (kOp == BinaryOp::less_equal) return a <= b;
  else if constexpr (kOp == BinaryOp::greater) return a > b;
  else if constexpr (kOp == BinaryOp::greater_equal) return a >= b;
  else if constexpr (kOp == BinaryOp::logical_and) return a && b;
  else return a || b;
}

// b == nullptr: b is `scalar` (first operand instead when scalar_first).
template <BinaryOp kOp, class T, class O>
__global__ void __launch_bounds__(kThreads) binary_kernel(index_t n, Offsets<3> o, O* out, const T* a,
                                                          const T* b, T scalar, bool scalar_first) {
  KILN_GRID_STRIDE(i, n) {
    index_t at[3];
    o.at(i, at);
    const T x = a[at[1]];
    if (b) out[at[0]] = apply<kOp>(x, b[at[2]]);
    else out[at[0]] = scalar_first ? apply<kOp>(scalar, x) : apply<kOp>(x, scalar);
  }
}

constexpr bool is_comparison(BinaryOp op) {
  return op == BinaryOp::equal || op == BinaryOp::not_equal || op == BinaryOp::less ||
         op == BinaryOp::less_equal || op == BinaryOp::greater || op == BinaryOp::greater_equal ||
         op == BinaryOp::logical_and || op == BinaryOp::logical_or;
}

template <BinaryOp kOp, class T>
void binary_typed(const Shape& shape, const Operand& out, const Operand& a, const Operand* b, T scalar,
                  bool scalar_first, cudaStream_t stream) {
  using O = std::conditional_t<is_comparison(kOp), bool, T>;
  constexpr const char* kFn = "binary";
  const Operand none{};
  const Operand* const operands[3] = {&out, &a, b ? b : &none};
  const Offsets<3> o = detail::make_offsets(kFn, shape, operands);
  launch_over(kFn, shape, stream, binary_kernel<kOp, T, O>, o, static_cast<O*>(out.data),
              static_cast<const T*>(a.data), b ? static_cast<const T*>(b->data) : nullptr, scalar, scalar_first);
}

// Which dtypes each operation takes; kiln's Python layer promotes the rest first (NumPy's
// rules), so e.g. divide and the logical operations are instantiated for fewer types.
template <BinaryOp kOp, class T>
constexpr bool kBinaryTakes =
    (kOp == BinaryOp::divide) ? kFloating<T>
    : (kOp == BinaryOp::logical_and || kOp == BinaryOp::logical_or) ? std::is_same_v<T, bool>
    : (kOp == BinaryOp::power || kOp == BinaryOp::subtract) ? !std::is_same_v<T, bool>
    : true;

template <BinaryOp kOp>
void binary_op(const Shape& shape, const Operand& out, const Operand& a, const Operand* b, Scalar scalar,
               bool scalar_first, cudaStream_t stream) {
  detail::with_dtype(a.dtype, "binary", [&](auto zero) {
    using T = decltype(zero);
    if constexpr (kBinaryTakes<kOp, T>) {
      binary_typed<kOp, T>(shape, out, a, b, detail::scalar_as<T>(scalar), scalar_first, stream);
    } else {
      throw std::invalid_argument("binary: operation " + std::to_string(static_cast<int>(kOp)) +
                                  " does not take dtype " + std::to_string(static_cast<int>(a.dtype)));
    }
  });
}

void binary_any(BinaryOp op, const Shape& shape, const Operand& out, const Operand& a, const Operand* b,
                Scalar scalar, bool scalar_first, cudaStream_t stream) {
  if (b && b->dtype != a.dtype) throw std::invalid_argument("binary: operands of different dtypes");
  const DType want = is_comparison(op) ? DType::bool_ : a.dtype;
  if (out.dtype != want) throw std::invalid_argument("binary: wrong output dtype");
  switch (op) {
#define KILN_BINARY_CASE(name) \
  case BinaryOp::name: return binary_op<BinaryOp::name>(shape, out, a, b, scalar, scalar_first, stream);
    KILN_BINARY_CASE(add)
    KILN_BINARY_CASE(subtract)
    KILN_BINARY_CASE(multiply)
    KILN_BINARY_CASE(divide)
    KILN_BINARY_CASE(power)
    KILN_BINARY_CASE(maximum)
    KILN_BINARY_CASE(minimum)
    KILN_BINARY_CASE(equal)
    KILN_BINARY_CASE(not_equal)
    KILN_BINARY_CASE(less)
    KILN_BINARY_CASE(less_equal)
    KILN_BINARY_CASE(greater)
    KILN_BINARY_CASE(greater_equal)
    KILN_BINARY_CASE(logical_and)
    KILN_BINARY_CASE(logical_or)
#undef KILN_BINARY_CASE
  }
  throw std::invalid_argument("binary: unknown operation");
}

// ---- unary operations -----------------------------------------------------------------------

template <UnaryOp kOp, class T>
__device__ __forceinline__ auto apply_unary(T a) {
  if constexpr (kOp == UnaryOp::negative) return static_cast<T>(-a);
  else if constexpr (kOp == UnaryOp::exp) return static_cast<T>(exp(a));
  else if constexpr (kOp == UnaryOp::log) return static_cast<T>(log(a));
  else if constexpr (kOp == UnaryOp::sqrt) return static_cast<T>(sqrt(a));
  else if constexpr (kOp == UnaryOp::abs) {
    if constexpr (std::is_unsigned_v<T> || std::is_same_v<T, bool>) return a;
    else return static_cast<T>(a < 0 ? -a : (a == 0 ? T(0) : a));  // abs(-0.0) is 0.0; NaN stays
  } else if constexpr (kOp == UnaryOp::sign) {
    if constexpr (std::is_same_v<T, bool>) return a;
    else return a != a ? a : static_cast<T>((a > 0) - (a < 0));
  } else if constexpr (kOp == UnaryOp::round) {
    if constexpr (kFloating<T>) return static_cast<T>(rint(a));  // half to even, as NumPy
    else return a;
  } else {
    return !a;
  }
}

template <UnaryOp kOp, class T>
constexpr bool kUnaryTakes =
    (kOp == UnaryOp::exp || kOp == UnaryOp::log || kOp == UnaryOp::sqrt) ? kFloating<T>
    : (kOp == UnaryOp::negative) ? !std::is_same_v<T, bool>
    : true;

template <UnaryOp kOp, class T, class O>
__global__ void __launch_bounds__(kThreads) unary_kernel(index_t n, Offsets<2> o, O* out, const T* a) {
  KILN_GRID_STRIDE(i, n) {
    index_t at[2];
    o.at(i, at);
    out[at[0]] = apply_unary<kOp>(a[at[1]]);
  }
}

template <UnaryOp kOp>
void unary_op(const Shape& shape, const Operand& out, const Operand& a, cudaStream_t stream) {
  constexpr const char* kFn = "unary";
  detail::with_dtype(a.dtype, kFn, [&](auto zero) {
    using T = decltype(zero);
    using O = std::conditional_t<kOp == UnaryOp::logical_not, bool, T>;
    if constexpr (kUnaryTakes<kOp, T>) {
      const Operand* const operands[2] = {&out, &a};
      const Offsets<2> o = detail::make_offsets(kFn, shape, operands);
      launch_over(kFn, shape, stream, unary_kernel<kOp, T, O>, o, static_cast<O*>(out.data),
                  static_cast<const T*>(a.data));
    } else {
      throw std::invalid_argument("unary: operation " + std::to_string(static_cast<int>(kOp)) +
                                  " does not take dtype " + std::to_string(static_cast<int>(a.dtype)));
    }
  });
}

// ---- where ------------------------------------------------------------------------------------

template <class T>
__global__ void __launch_bounds__(kThreads) where_kernel(index_t n, Offsets<4> o, T* out, const bool* condition,
                                                         const T* a, const T* b) {
  KILN_GRID_STRIDE(i, n) {
    index_t at[4];
    o.at(i, at);
    out[at[0]] = condition[at[1]] ? a[at[2]] : b[at[3]];
  }
}

}  // namespace

std::size_t dtype_size(DType dtype) {
  std::size_t size = 0;
  detail::with_dtype(dtype, "dtype_size", [&](auto zero) { size = sizeof(zero); });
  return size;
}

void copy(const Shape& shape, const Operand& dst, const Operand& src, cudaStream_t stream) {
  constexpr const char* kFn = "copy";
  const Operand* const operands[2] = {&dst, &src};
  const Offsets<2> o = detail::make_offsets(kFn, shape, operands);
  detail::with_dtype(dst.dtype, kFn, [&](auto to) {
    detail::with_dtype(src.dtype, kFn, [&](auto from) {
      using To = decltype(to);
      using From = decltype(from);
      launch_over(kFn, shape, stream, copy_kernel<To, From>, o, static_cast<To*>(dst.data),
                  static_cast<const From*>(src.data));
    });
  });
}

void fill(const Shape& shape, const Operand& dst, Scalar value, cudaStream_t stream) {
  constexpr const char* kFn = "fill";
  const Operand* const operands[1] = {&dst};
  const Offsets<1> o = detail::make_offsets(kFn, shape, operands);
  detail::with_dtype(dst.dtype, kFn, [&](auto zero) {
    using T = decltype(zero);
    launch_over(kFn, shape, stream, fill_kernel<T>, o, static_cast<T*>(dst.data), detail::scalar_as<T>(value));
  });
}

void binary(BinaryOp op, const Shape& shape, const Operand& out, const Operand& a, const Operand& b,
            cudaStream_t stream) {
  binary_any(op, shape, out, a, &b, Scalar{}, false, stream);
}

void binary_scalar(BinaryOp op, const Shape& shape, const Operand& out, const Operand& array, Scalar scalar,
                   bool scalar_first, cudaStream_t stream) {
  binary_any(op, shape, out, array, nullptr, scalar, scalar_first, stream);
}

void unary(UnaryOp op, const Shape& shape, const Operand& out, const Operand& a, cudaStream_t stream) {
  const DType want = op == UnaryOp::logical_not ? DType::bool_ : a.dtype;
  if (out.dtype != want) throw std::invalid_argument("unary: wrong output dtype");
  switch (op) {
    case UnaryOp::negative: return unary_op<UnaryOp::negative>(shape, out, a, stream);
    case UnaryOp::exp: return unary_op<UnaryOp::exp>(shape, out, a, stream);
    case UnaryOp::log: return unary_op<UnaryOp::log>(shape, out, a, stream);
    case UnaryOp::sqrt: return unary_op<UnaryOp::sqrt>(shape, out, a, stream);
    case UnaryOp::abs: return unary_op<UnaryOp::abs>(shape, out, a, stream);
    case UnaryOp::sign: return unary_op<UnaryOp::sign>(shape, out, a, stream);
    case UnaryOp::round: return unary_op<UnaryOp::round>(shape, out, a, stream);
    case UnaryOp::logical_not: return unary_op<UnaryOp::logical_not>(shape, out, a, stream);
  }
  throw std::invalid_argument("unary: unknown operation");
}

void where(const Shape& shape, const Operand& out, const Operand& condition, const Operand& a, const Operand& b,
           cudaStream_t stream) {
  constexpr const char* kFn = "where";
  if (condition.dtype != DType::bool_ || a.dtype != out.dtype || b.dtype != out.dtype)
    throw std::invalid_argument("where: condition must be bool and a, b, out of one dtype");
  const Operand* const operands[4] = {&out, &condition, &a, &b};
  const Offsets<4> o = detail::make_offsets(kFn, shape, operands);
  detail::with_dtype(out.dtype, kFn, [&](auto zero) {
    using T = decltype(zero);
    launch_over(kFn, shape, stream, where_kernel<T>, o, static_cast<T*>(out.data),
                static_cast<const bool*>(condition.data), static_cast<const T*>(a.data),
                static_cast<const T*>(b.data));
  });
}

}  // namespace kiln::cuda
