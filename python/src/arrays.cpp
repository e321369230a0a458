#include "arrays.hpp"

#include <sstream>

namespace kiln::bind {

std::string shape_str(const std::vector<index_t>& shape) {
  std::ostringstream out;
  out << "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) out << ", ";
    if (shape[i] < 0) {
      out << "*";
    } else {
      out << shape[i];
    }
  }
  if (shape.size() == 1) out << ",";
  out << ")";
  return out.str();
}

std::string shape_str(const py::array& a) {
  std::vector<index_t> shape(a.shape(), a.shape() + a.ndim());
  return shape_str(shape);
}

namespace {

std::string describe(py::handle obj) {
  if (obj.is_none()) return "None";
  if (py::isinstance<py::array>(obj)) {
    return "ndarray of " + std::string(py::str(py::reinterpret_borrow<py::array>(obj).dtype()));
  }
  return std::string(py::str(py::type::handle_of(obj).attr("__name__")));
}

template <typename T>
py::array typed_array(const char* fn, const char* arg, py::handle obj, const char* dtype_name) {
  if (!py::isinstance<py::array>(obj) ||
      !py::reinterpret_borrow<py::array>(obj).dtype().is(py::dtype::of<T>())) {
    throw py::type_error(std::string(fn) + ": " + arg + " must be a numpy.ndarray of " +
                         dtype_name + ", got " + describe(obj));
  }
  return py::reinterpret_borrow<py::array>(obj);
}

}  // namespace

py::array float32_array(const char* fn, const char* arg, py::handle obj) {
  return typed_array<float>(fn, arg, obj, "float32");
}

py::array optional_float32_array(const char* fn, const char* arg, py::handle obj) {
  if (obj.is_none()) return py::reinterpret_borrow<py::array>(py::handle());  // a null handle
  return float32_array(fn, arg, obj);
}

py::array int64_array(const char* fn, const char* arg, py::handle obj) {
  return typed_array<std::int64_t>(fn, arg, obj, "int64");
}

void require_ndim(const char* fn, const char* arg, const py::array& a,
                  std::initializer_list<int> allowed) {
  for (int d : allowed)
    if (a.ndim() == d) return;
  std::ostringstream msg;
  msg << fn << ": " << arg << " must be ";
  bool first = true;
  for (int d : allowed) {
    msg << (first ? "" : " or ") << d << "-D";
    first = false;
  }
  msg << ", got a " << a.ndim() << "-D array of shape " << shape_str(a);
  throw py::value_error(msg.str());
}

void require_shape(const char* fn, const char* arg, const py::array& a,
                   const std::vector<index_t>& expected) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(expected.size());
  for (std::size_t i = 0; ok && i < expected.size(); ++i)
    ok = expected[i] < 0 || a.shape(static_cast<py::ssize_t>(i)) == expected[i];
  if (!ok) {
    throw py::value_error(std::string(fn) + ": " + arg + " must have shape " +
                          shape_str(expected) + ", got " + shape_str(a));
  }
}

void require_c_contiguous(const char* fn, const char* arg, const py::array& a) {
  if (!(a.flags() & py::array::c_style)) {
    throw py::value_error(std::string(fn) + ": " + arg +
                          " must be C-contiguous (use numpy.ascontiguousarray), got an array of shape " +
                          shape_str(a) + " with strides " + shape_str(std::vector<index_t>(a.strides(), a.strides() + a.ndim())));
  }
}

void require_writeable(const char* fn, const char* arg, const py::array& a) {
  if (!a.writeable()) {
    throw py::value_error(std::string(fn) + ": " + arg +
                          " is read-only; kiln writes outputs in place and will not copy them");
  }
}

namespace {
// [first byte, one past last byte] that an array may touch.
std::pair<const char*, const char*> byte_bounds(const py::array& a) {
  const char* base = static_cast<const char*>(a.data());
  const char* lo = base;
  const char* hi = base + a.itemsize();
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    if (a.shape(d) == 0) return {base, base};
    const py::ssize_t extent = (a.shape(d) - 1) * a.strides(d);
    if (extent < 0) {
      lo += extent;
    } else {
      hi += extent;
    }
  }
  return {lo, hi};
}
}  // namespace

void require_no_overlap(const char* fn, const char* out_arg, const py::array& out,
                        std::initializer_list<std::pair<const char*, const py::array*>> inputs) {
  const auto o = byte_bounds(out);
  if (o.first == o.second) return;
  for (const auto& [name, in] : inputs) {
    if (!in || !*in) continue;
    const auto i = byte_bounds(*in);
    if (i.first < o.second && o.first < i.second) {
      throw py::value_error(std::string(fn) + ": " + out_arg + " shares memory with " + name +
                            "; pass a separate output array");
    }
  }
}

index_t elem_stride(const py::array& a, int dim) {
  return static_cast<index_t>(a.strides(dim) / a.itemsize());
}

}  // namespace kiln::bind
