#include "node_args.hpp"

#include "arrays.hpp"

namespace kiln::nodes {

std::vector<Edge> node_edges(const char* fn, py::handle edges, std::initializer_list<std::size_t> counts) {
  std::vector<Edge> out;
  if (tape::api().parse_edges(edges.ptr(), &out) != 0) throw py::error_already_set();
  for (std::size_t c : counts)
    if (out.size() == c) return out;
  std::string want;
  for (std::size_t c : counts) want += (want.empty() ? "" : " or ") + std::to_string(c);
  throw py::value_error(std::string(fn) + ": " + want + " edges, got " + std::to_string(out.size()));
}

namespace {

// A C-contiguous, aligned ndarray of NumPy type number `type_num` in native byte order: what
// the layers hand over nearly always, taken as it is without asking NumPy.
bool plain(py::handle obj, int type_num) {
  using npy = py::detail::npy_api;
  if (!npy::get().PyArray_Check_(obj.ptr())) return false;
  const auto* a = py::detail::array_proxy(obj.ptr());
  const auto* d = py::detail::array_descriptor_proxy(a->descr);
  constexpr int layout = npy::NPY_ARRAY_C_CONTIGUOUS_ | npy::NPY_ARRAY_ALIGNED_;
  return d->type_num == type_num && (d->byteorder == '=' || d->byteorder == '|') && (a->flags & layout) == layout;
}

}  // namespace

py::array saved_f32(py::handle obj) {
  if (plain(obj, py::detail::npy_api::NPY_FLOAT_)) return py::reinterpret_borrow<py::array>(obj);
  if (!py::isinstance<py::array_t<float>>(obj)) return null_array();
  return py::array_t<float, py::array::c_style>::ensure(obj);
}

py::array saved_optional_f32(py::handle obj, bool* ok) {
  *ok = true;
  if (obj.is_none()) return null_array();
  py::array a = saved_f32(obj);
  *ok = static_cast<bool>(a);
  return a;
}

py::array saved_i64(py::handle obj) {
  if (plain(obj, py::dtype::of<std::int64_t>().num())) return py::reinterpret_borrow<py::array>(obj);
  if (!py::isinstance<py::array_t<std::int64_t>>(obj)) return null_array();
  return py::array_t<std::int64_t, py::array::c_style>::ensure(obj);
}

py::array grad_f32(const char* fn, py::handle g) {
  if (plain(g, py::detail::npy_api::NPY_FLOAT_)) return py::reinterpret_borrow<py::array>(g);
  auto a = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(g);
  if (!a) {
    PyErr_Clear();
    throw py::type_error(std::string(fn) + ": a gradient must be a numeric array, got " +
                         Py_TYPE(g.ptr())->tp_name);
  }
  return a;
}

py::array new_f32_if(bool wanted, const std::vector<index_t>& shape) {
  return wanted ? py::array(py::array_t<float>(shape)) : null_array();
}

std::vector<index_t> shape_of(const py::array& a) {
  return std::vector<index_t>(a.shape(), a.shape() + a.ndim());
}

std::vector<index_t> shape_arg(const char* fn, const char* arg, py::handle obj) {
  if (!PySequence_Check(obj.ptr()) || PyUnicode_Check(obj.ptr()))
    throw py::type_error(std::string(fn) + ": " + arg + " must be a sequence of ints");
  std::vector<index_t> out;
  for (py::handle v : py::reinterpret_borrow<py::sequence>(obj)) {
    if (!PyIndex_Check(v.ptr()))
      throw py::type_error(std::string(fn) + ": " + arg + " must hold ints, got " + Py_TYPE(v.ptr())->tp_name);
    const index_t d = v.cast<index_t>();
    if (d < 0) throw py::value_error(std::string(fn) + ": " + arg + " has a negative size");
    out.push_back(d);
  }
  return out;
}

void require_shape(const char* fn, const char* arg, const py::array& a, const std::vector<index_t>& shape) {
  bind::require_shape(fn, arg, a, shape);
}

index_t product(const std::vector<index_t>& shape) {
  index_t n = 1;
  for (index_t d : shape) n *= d;
  return n;
}

}  // namespace kiln::nodes
