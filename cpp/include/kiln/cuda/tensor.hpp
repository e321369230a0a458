// kiln CUDA: the array primitives of the device backend (what NumPy does for host arrays).
//
// Every operand is a strided view of device memory: a base pointer, a dtype and one stride
// per dimension, in elements (0 where an operand is broadcast). The operands of one call
// share one shape (at most kMaxDims dimensions), the output's; inputs are broadcast to it by
// the caller. Outputs must not overlap inputs except element for element (out == a).
//
//   copy(shape, dst, src)              dst = src, converted to dst's dtype (NumPy's "unsafe")
//   fill(shape, dst, value)            dst = value
//   binary(op, shape, out, a, b)       out = a op b; a, b of one dtype; out that dtype, or bool
//                                      for comparisons and logical ops (b may be a scalar)
//   unary(op, shape, out, a)           out = op(a); out a's dtype, bool for logical_not
//   where(shape, out, cond, a, b)      out = cond ? a : b; cond bool, a, b, out one dtype
//   reduce_rows(op, rows, cols, ...)   out[r] = op over in[r, 0:cols] (C-contiguous input)
//   gather / scatter / scatter_add     by element offsets into a base pointer
//
// All calls are asynchronous on `stream`; argument errors throw std::invalid_argument, launch
// failures std::runtime_error naming the primitive and the sizes.
#pragma once

#include <cstddef>

#include "kiln/common.hpp"
#include "kiln/cuda/runtime.hpp"

namespace kiln::cuda {

constexpr int kMaxDims = 8;

// NumPy's dtypes that device arrays may hold.
enum class DType : int { bool_ = 0, uint8, int8, int16, int32, int64, float32, float64 };

std::size_t dtype_size(DType dtype);

struct Shape {
  int ndim = 0;
  index_t dims[kMaxDims] = {};
};

struct Operand {
  void* data = nullptr;
  DType dtype = DType::float32;
  index_t strides[kMaxDims] = {};  // elements
};

// A Python scalar: its integer value is exact for integer dtypes, its double for the rest.
struct Scalar {
  double real = 0.0;
  long long integer = 0;
};

enum class BinaryOp : int {
  add, subtract, multiply, divide, power, maximum, minimum,
  equal, not_equal, less, less_equal, greater, greater_equal, logical_and, logical_or,
};

enum class UnaryOp : int { negative, exp, log, sqrt, abs, sign, round, logical_not };

enum class ReduceOp : int { sum, max, min, argmax, argmin };

void copy(const Shape& shape, const Operand& dst, const Operand& src, cudaStream_t stream = 0);
void fill(const Shape& shape, const Operand& dst, Scalar value, cudaStream_t stream = 0);

// out = a op b. With scalar_b (b_scalar used, b ignored) or scalar_a (a_scalar used).
void binary(BinaryOp op, const Shape& shape, const Operand& out, const Operand& a, const Operand& b,
            cudaStream_t stream = 0);
void binary_scalar(BinaryOp op, const Shape& shape, const Operand& out, const Operand& array,
                   Scalar scalar, bool scalar_first, cudaStream_t stream = 0);
void unary(UnaryOp op, const Shape& shape, const Operand& out, const Operand& a, cudaStream_t stream = 0);
void where(const Shape& shape, const Operand& out, const Operand& condition, const Operand& a,
           const Operand& b, cudaStream_t stream = 0);

// in: (rows, cols) C-contiguous of in_dtype. out: (rows,) of
//   sum: int64 for bool and integers, in_dtype for floats (accumulated in double);
//   max, min: in_dtype (NaN wins); argmax, argmin: int64 (first extreme; first NaN wins).
// cols == 0 is allowed for sum only.
void reduce_rows(ReduceOp op, index_t rows, index_t cols, const void* in, DType in_dtype, void* out,
                 cudaStream_t stream = 0);
DType reduce_output_dtype(ReduceOp op, DType in_dtype);

// out[i] = base[offsets[i]], base[offsets[i]] = values[i], base[offsets[i]] += values[i]
// (atomically: repeated offsets add up) for i < n; offsets in elements of `dtype`.
void gather(index_t n, const void* base, const index_t* offsets, void* out, DType dtype,
            cudaStream_t stream = 0);
void scatter(index_t n, void* base, const index_t* offsets, const void* values, DType dtype,
             cudaStream_t stream = 0);
void scatter_add(index_t n, void* base, const index_t* offsets, const void* values, DType dtype,
                 cudaStream_t stream = 0);

}  // namespace kiln::cuda
