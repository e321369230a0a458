// kiln CUDA: reductions over the rows of a C-contiguous (rows, cols) array (kiln/cuda/tensor.hpp).
//
// The backend moves the reduced axes last (one copy) and calls this: one block per row
// (grid-stride over rows), each thread folding a strided slice of its row, then the warps
// folding with shuffles and the block through shared memory. Sums accumulate in double
// (floats) or int64 (integers and bool), as NumPy's results are exact to their dtype.
// Arg-reductions carry (value, index) and keep the first extreme, a NaN before anything.
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include "check.hpp"
#include "launch.hpp"
#include "strided.cuh"

namespace kiln::cuda {
namespace {

using detail::kFloating;

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

// The accumulator of each reduction: what the shuffles move.
template <ReduceOp kOp, class T>
using Acc = std::conditional_t<kOp == ReduceOp::sum, std::conditional_t<kFloating<T>, double, long long>,
                               std::conditional_t<kFloating<T>, T, std::conditional_t<sizeof(T) == 8, long long, int>>>;

template <ReduceOp kOp, class A>
__device__ __forceinline__ void fold(A& value, long long& index, A other, long long other_index) {
  if constexpr (kOp == ReduceOp::sum) {
    value += other;
  } else {
    constexpr bool kMax = kOp == ReduceOp::max || kOp == ReduceOp::argmax;
    const bool other_nan = other != other, value_nan = value != value;
    bool take;
    if (value_nan || other_nan) take = other_nan && (!value_nan || other_index < index);
    else if (kMax) take = other > value || (other == value && other_index < index);
    else take = other < value || (other == value && other_index < index);
    if (take) {
      value = other;
      index = other_index;
    }
  }
}

template <ReduceOp kOp, class T>
__global__ void __launch_bounds__(kThreads) reduce_kernel(index_t rows, index_t cols, const T* in, void* out_raw) {
  using A = Acc<kOp, T>;
  KILN_SHARED(A, warp_values, [kWarps]);
  KILN_SHARED(long long, warp_indices, [kWarps]);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (index_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* line = in + row * cols;
    A value = kOp == ReduceOp::sum ? A(0) : A(line[0]);
    long long index = kOp == ReduceOp::sum ? 0 : 0;
    for (index_t c = threadIdx.x; c < cols; c += kThreads) fold<kOp>(value, index, A(line[c]), c);
    for (int offset = 16; offset > 0; offset /= 2) {
      const A other = __shfl_down_sync(0xffffffffu, value, offset);
      const long long other_index = __shfl_down_sync(0xffffffffu, index, offset);
      fold<kOp>(value, index, other, other_index);
    }
    if (lane == 0) {
      warp_values[warp] = value;
      warp_indices[warp] = index;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      for (int w = 1; w < kWarps; ++w) fold<kOp>(value, index, warp_values[w], warp_indices[w]);
      if constexpr (kOp == ReduceOp::argmax || kOp == ReduceOp::argmin)
        static_cast<long long*>(out_raw)[row] = index;
      else if constexpr (kOp == ReduceOp::sum)
        static_cast<std::conditional_t<kFloating<T>, T, long long>*>(out_raw)[row] = value;
      else
        static_cast<T*>(out_raw)[row] = static_cast<T>(value);
    }
    __syncthreads();  // the shared slots are reused by the next row
  }
}

template <ReduceOp kOp>
void reduce_op(index_t rows, index_t cols, const void* in, DType dtype, void* out, cudaStream_t stream) {
  constexpr const char* kFn = "reduce_rows";
  detail::with_dtype(dtype, kFn, [&](auto zero) {
    using T = decltype(zero);
    const index_t most = 65535;
    const unsigned blocks = static_cast<unsigned>(rows < most ? rows : most);
    const cudaError_t error = launch(reduce_kernel<kOp, T>, dim3(blocks), dim3(kThreads), 0, stream, rows, cols,
                                     static_cast<const T*>(in), out);
    detail::throw_if_failed(error, kFn, "rows=" + std::to_string(rows) + ", cols=" + std::to_string(cols));
  });
}

}  // namespace

DType reduce_output_dtype(ReduceOp op, DType in_dtype) {
  if (op == ReduceOp::argmax || op == ReduceOp::argmin) return DType::int64;
  if (op == ReduceOp::sum && in_dtype != DType::float32 && in_dtype != DType::float64) return DType::int64;
  return in_dtype;
}

void reduce_rows(ReduceOp op, index_t rows, index_t cols, const void* in, DType in_dtype, void* out,
                 cudaStream_t stream) {
  if (rows < 0 || cols < 0) throw std::invalid_argument("reduce_rows: negative size");
  if (cols == 0 && op != ReduceOp::sum)
    throw std::invalid_argument("reduce_rows: a reduction over no elements has no identity");
  if (rows == 0) return;
  if (cols == 0) {
    Shape shape;
    shape.ndim = 1;
    shape.dims[0] = rows;
    Operand dst;
    dst.data = out;
    dst.dtype = reduce_output_dtype(op, in_dtype);
    dst.strides[0] = 1;
    return fill(shape, dst, Scalar{}, stream);
  }
  switch (op) {
    case ReduceOp::sum: return reduce_op<ReduceOp::sum>(rows, cols, in, in_dtype, out, stream);
    case ReduceOp::max: return reduce_op<ReduceOp::max>(rows, cols, in, in_dtype, out, stream);
    case ReduceOp::min: return reduce_op<ReduceOp::min>(rows, cols, in, in_dtype, out, stream);
    case ReduceOp::argmax: return reduce_op<ReduceOp::argmax>(rows, cols, in, in_dtype, out, stream);
    case ReduceOp::argmin: return reduce_op<ReduceOp::argmin>(rows, cols, in, in_dtype, out, stream);
  }
  throw std::invalid_argument("reduce_rows: unknown operation");
}

}  // namespace kiln::cuda
