// Argument checks shared by every binding of kiln._C.
//
// Each binding checks every array (type, dtype, rank, shape, strides, writeability,
// overlap) before its kernel runs, and raises TypeError (not an ndarray of
// float32) or ValueError (anything else) naming the function and the argument.
// Outputs are never copied: a kernel writes straight into the caller's array, or
// the call is refused.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "kiln/common.hpp"

namespace kiln::bind {

namespace py = pybind11;

// "(3, 4)" for an array's shape.
std::string shape_str(const py::array& a);
std::string shape_str(const std::vector<index_t>& shape);

// obj must be a numpy.ndarray of dtype float32 (TypeError otherwise).
py::array float32_array(const char* fn, const char* arg, py::handle obj);
// The same for an optional argument: None gives a null handle (false in a bool test).
py::array optional_float32_array(const char* fn, const char* arg, py::handle obj);
// obj must be a numpy.ndarray of dtype int64 (TypeError otherwise).
py::array int64_array(const char* fn, const char* arg, py::handle obj);

void require_ndim(const char* fn, const char* arg, const py::array& a,
                  std::initializer_list<int> allowed);
// Every dimension must match; -1 in `expected` matches any size.
void require_shape(const char* fn, const char* arg, const py::array& a,
                   const std::vector<index_t>& expected);
void require_c_contiguous(const char* fn, const char* arg, const py::array& a);
// Output arrays: writeable, and sharing no memory with any of `inputs`.
void require_writeable(const char* fn, const char* arg, const py::array& a);
void require_no_overlap(const char* fn, const char* out_arg, const py::array& out,
                        std::initializer_list<std::pair<const char*, const py::array*>> inputs);

// Element strides (the array's byte strides divided by the item size).
index_t elem_stride(const py::array& a, int dim);

inline const float* f32_data(const py::array& a) {
  return a ? static_cast<const float*>(a.data()) : nullptr;
}
inline float* f32_mutable_data(py::array& a) {
  return a ? static_cast<float*>(a.mutable_data()) : nullptr;
}

}  // namespace kiln::bind
