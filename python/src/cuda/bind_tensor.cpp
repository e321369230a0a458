// kiln._cuda: the array primitives (kiln/cuda/tensor.hpp).
//
// An operand arrives as (address, dtype code, strides in elements); the shape is shared.
// The operation and dtype names are exported as dictionaries (BINARY_OPS, DTYPES, ...) so
// that the Python side never restates the enums' numbering.
#include <pybind11/stl.h>

#include <string>
#include <tuple>
#include <vector>

#include "bindings.hpp"
#include "kiln/cuda/tensor.hpp"

namespace py = pybind11;
using kiln::cuda::DType;
using kiln::cuda::Operand;
using kiln::cuda::Shape;

namespace kiln::python::cuda {
namespace {

using OperandArg = std::tuple<std::uintptr_t, int, std::vector<index_t>>;

Shape to_shape(const std::vector<index_t>& dims) {
  if (dims.size() > static_cast<std::size_t>(kiln::cuda::kMaxDims))
    throw std::invalid_argument("kiln's device arrays have at most " + std::to_string(kiln::cuda::kMaxDims) +
                                " dimensions, not " + std::to_string(dims.size()));
  Shape s;
  s.ndim = static_cast<int>(dims.size());
  for (int d = 0; d < s.ndim; ++d) s.dims[d] = dims[d];
  return s;
}

Operand to_operand(const OperandArg& arg, int ndim) {
  const auto& [address, dtype, strides] = arg;
  if (static_cast<int>(strides.size()) != ndim) throw std::invalid_argument("an operand's strides do not match the shape");
  Operand o;
  o.data = as_pointer<void>(address);
  o.dtype = static_cast<DType>(dtype);
  for (int d = 0; d < ndim; ++d) o.strides[d] = strides[d];
  return o;
}

kiln::cuda::Scalar to_scalar(double real, long long integer) { return kiln::cuda::Scalar{real, integer}; }

}  // namespace

void bind_tensor(py::module_& m) {
  py::dict dtypes, binary_ops, unary_ops, reduce_ops;
  const char* dtype_names[] = {"bool", "uint8", "int8", "int16", "int32", "int64", "float32", "float64"};
  for (int i = 0; i < 8; ++i) dtypes[dtype_names[i]] = i;
  const char* binary_names[] = {"add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "equal",
                                "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and",
                                "logical_or"};
  for (int i = 0; i < 15; ++i) binary_ops[binary_names[i]] = i;
  const char* unary_names[] = {"negative", "exp", "log", "sqrt", "abs", "sign", "round", "logical_not"};
  for (int i = 0; i < 8; ++i) unary_ops[unary_names[i]] = i;
  const char* reduce_names[] = {"sum", "max", "min", "argmax", "argmin"};
  for (int i = 0; i < 5; ++i) reduce_ops[reduce_names[i]] = i;
  m.attr("DTYPES") = dtypes;
  m.attr("BINARY_OPS") = binary_ops;
  m.attr("UNARY_OPS") = unary_ops;
  m.attr("REDUCE_OPS") = reduce_ops;
  m.attr("MAX_DIMS") = kiln::cuda::kMaxDims;

  m.def("copy", [](const std::vector<index_t>& dims, const OperandArg& dst, const OperandArg& src, std::uintptr_t stream) {
    const Shape s = to_shape(dims);
    kiln::cuda::copy(s, to_operand(dst, s.ndim), to_operand(src, s.ndim), as_stream(stream));
  });
  m.def("fill", [](const std::vector<index_t>& dims, const OperandArg& dst, double real, long long integer,
                   std::uintptr_t stream) {
    const Shape s = to_shape(dims);
    kiln::cuda::fill(s, to_operand(dst, s.ndim), to_scalar(real, integer), as_stream(stream));
  });
  m.def("binary", [](int op, const std::vector<index_t>& dims, const OperandArg& out, const OperandArg& a,
                     const OperandArg& b, std::uintptr_t stream) {
    const Shape s = to_shape(dims);
    kiln::cuda::binary(static_cast<kiln::cuda::BinaryOp>(op), s, to_operand(out, s.ndim), to_operand(a, s.ndim),
                       to_operand(b, s.ndim), as_stream(stream));
  });
  m.def("binary_scalar", [](int op, const std::vector<index_t>& dims, const OperandArg& out, const OperandArg& a,
                            double real, long long integer, bool scalar_first, std::uintptr_t stream) {
    const Shape s = to_shape(dims);
    kiln::cuda::binary_scalar(static_cast<kiln::cuda::BinaryOp>(op), s, to_operand(out, s.ndim),
                              to_operand(a, s.ndim), to_scalar(real, integer), scalar_first, as_stream(stream));
  });
  m.def("unary", [](int op, const std::vector<index_t>& dims, const OperandArg& out, const OperandArg& a,
                    std::uintptr_t stream) {
    const Shape s = to_shape(dims);
    kiln::cuda::unary(static_cast<kiln::cuda::UnaryOp>(op), s, to_operand(out, s.ndim), to_operand(a, s.ndim),
                      as_stream(stream));
  });
  m.def("where", [](const std::vector<index_t>& dims, const OperandArg& out, const OperandArg& condition,
                    const OperandArg& a, const OperandArg& b, std::uintptr_t stream) {
    const Shape s = to_shape(dims);
    kiln::cuda::where(s, to_operand(out, s.ndim), to_operand(condition, s.ndim), to_operand(a, s.ndim),
                      to_operand(b, s.ndim), as_stream(stream));
  });
  m.def("reduce_rows", [](int op, index_t rows, index_t cols, std::uintptr_t in, int dtype, std::uintptr_t out,
                          std::uintptr_t stream) {
    kiln::cuda::reduce_rows(static_cast<kiln::cuda::ReduceOp>(op), rows, cols, as_pointer<const void>(in),
                            static_cast<DType>(dtype), as_pointer<void>(out), as_stream(stream));
  });
  m.def("reduce_output_dtype", [](int op, int dtype) {
    return static_cast<int>(kiln::cuda::reduce_output_dtype(static_cast<kiln::cuda::ReduceOp>(op), static_cast<DType>(dtype)));
  });
  m.def("gather", [](index_t n, std::uintptr_t base, std::uintptr_t offsets, std::uintptr_t out, int dtype,
                     std::uintptr_t stream) {
    kiln::cuda::gather(n, as_pointer<const void>(base), as_pointer<const index_t>(offsets), as_pointer<void>(out),
                       static_cast<DType>(dtype), as_stream(stream));
  });
  m.def("scatter", [](index_t n, std::uintptr_t base, std::uintptr_t offsets, std::uintptr_t values, int dtype,
                      std::uintptr_t stream) {
    kiln::cuda::scatter(n, as_pointer<void>(base), as_pointer<const index_t>(offsets),
                        as_pointer<const void>(values), static_cast<DType>(dtype), as_stream(stream));
  });
  m.def("scatter_add", [](index_t n, std::uintptr_t base, std::uintptr_t offsets, std::uintptr_t values, int dtype,
                          std::uintptr_t stream) {
    kiln::cuda::scatter_add(n, as_pointer<void>(base), as_pointer<const index_t>(offsets),
                            as_pointer<const void>(values), static_cast<DType>(dtype), as_stream(stream));
  });
}

}  // namespace kiln::python::cuda
