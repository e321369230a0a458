// The few array operations the tape does itself: sum two gradients, copy one, add one into
// a leaf's gradient in place, reshape or transpose one. float32 C-contiguous ndarrays (the
// common case) in plain C++ loops, other ndarrays through NumPy, and arrays of other
// backends (device arrays) through the Python hooks of set_array_hooks, so the walker
// needs to know nothing about them. Element-wise float additions in any of these give the
// same bits as NumPy's, so the walk is bit-identical to a Python walk that adds with `+`.
#include <cstring>
#include <string>
#include <vector>

#include "kiln/transpose.hpp"
#include "tape_internal.hpp"

namespace kiln::tape {
namespace {

using npy = py::detail::npy_api;

struct Hooks {
  py::object add, iadd, copy, copy_into, reshape, transpose;
};

Hooks& hooks() {
  static Hooks* h = new Hooks();  // never freed: outlives the interpreter's teardown
  return *h;
}

bool is_ndarray(py::handle obj) { return npy::get().PyArray_Check_(obj.ptr()); }

// NumPy scalars (np.float32(2.0): what arithmetic on a 0-d array gives) count as 0-d arrays;
// anything else that is not an ndarray goes to the hooks.
py::object as_array(py::handle obj) {
  if (is_ndarray(obj)) return py::reinterpret_borrow<py::object>(obj);
  static PyObject* generic = py::object(py::module_::import("numpy").attr("generic")).release().ptr();
  if (!PyObject_TypeCheck(obj.ptr(), reinterpret_cast<PyTypeObject*>(generic)))
    return py::reinterpret_borrow<py::object>(obj);
  PyObject* a = npy::get().PyArray_FromAny_(obj.ptr(), nullptr, 0, 0, 0, nullptr);
  if (!a) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(a);
}

const py::detail::PyArray_Proxy* proxy(py::handle a) { return py::detail::array_proxy(a.ptr()); }

bool same_shape(py::handle a, py::handle b) {
  const auto* pa = proxy(a);
  const auto* pb = proxy(b);
  if (pa->nd != pb->nd) return false;
  for (int d = 0; d < pa->nd; ++d)
    if (pa->dimensions[d] != pb->dimensions[d]) return false;
  return true;
}

std::vector<py::ssize_t> shape_of(py::handle a) {
  const auto* p = proxy(a);
  return std::vector<py::ssize_t>(p->dimensions, p->dimensions + p->nd);
}

std::string shape_str(const std::vector<py::ssize_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

py::ssize_t size_of(py::handle a) {
  py::ssize_t n = 1;
  const auto* p = proxy(a);
  for (int d = 0; d < p->nd; ++d) n *= p->dimensions[d];
  return n;
}

float* f32(py::handle a) { return reinterpret_cast<float*>(proxy(a)->data); }

py::object call_hook(const py::object& hook, const char* name, py::handle subject,
                     std::initializer_list<PyObject*> args) {
  if (!hook)
    throw py::type_error(std::string("kiln._tape: a gradient of type ") + Py_TYPE(subject.ptr())->tp_name +
                         " is not a numpy.ndarray; kiln._tape.set_array_hooks() must give `" + name +
                         "` for arrays of other backends");
  std::vector<PyObject*> argv(args);
  py::object fn = hook;  // ours: the hook may replace the hooks while it runs
  PyObject* result;
  {
    InPython timer;
    result = PyObject_Vectorcall(fn.ptr(), argv.data(), argv.size(), nullptr);
  }
  if (!result) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(result);
}

bool aligned_c_contiguous(py::handle a) {
  const int want = npy::NPY_ARRAY_C_CONTIGUOUS_ | npy::NPY_ARRAY_ALIGNED_;
  return (proxy(a)->flags & want) == want;
}

py::object checked(PyObject* result) {
  if (!result) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(result);
}

py::object optional_hook(py::handle h, const char* name) {
  if (h.is_none()) return py::object();
  if (!PyCallable_Check(h.ptr()))
    throw py::type_error(std::string("set_array_hooks: ") + name + " must be callable or None, got " +
                         Py_TYPE(h.ptr())->tp_name);
  return py::reinterpret_borrow<py::object>(h);
}

// dst (rows, cols) float32 C-contiguous = src, a large float32 view of a row-major matrix's
// transpose (a Keras kernel's gradient, computed in the kernel's (out, in) layout), in tiles:
// NumPy copies such a view element by element at a tenth of copy speed. False: not that case.
bool copy_transposed_f32(py::handle dst, py::handle src) {
  const auto* s = proxy(src);
  const auto* d = proxy(dst);
  if (s->nd != 2 || !is_plain_f32(dst) || !(d->flags & npy::NPY_ARRAY_WRITEABLE_) || size_of(src) < (1 << 14))
    return false;
  const auto* descr = py::detail::array_descriptor_proxy(s->descr);
  const py::ssize_t rows = s->dimensions[0], cols = s->dimensions[1], item = sizeof(float);
  const bool native = descr->byteorder == '=' || descr->byteorder == '|' ||
                      (descr->byteorder == '<') == (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__);
  if (descr->type_num != npy::NPY_FLOAT_ || !native || !(s->flags & npy::NPY_ARRAY_ALIGNED_) ||
      s->strides[0] != item || s->strides[1] % item != 0 || s->strides[1] < rows * item)
    return false;
  const char* s_begin = s->data;
  const char* s_end = s->data + (cols - 1) * s->strides[1] + rows * item;
  const char* d_begin = d->data;
  const char* d_end = d->data + rows * cols * item;
  if (s_begin < d_end && d_begin < s_end) return false;  // overlapping: NumPy's copy handles it
  transpose_rows(0, rows, cols, reinterpret_cast<const float*>(s->data), s->strides[1] / item,
                 reinterpret_cast<float*>(d->data));
  return true;
}

}  // namespace

bool is_plain_f32(py::handle obj) {
  if (!is_ndarray(obj)) return false;
  const auto* descr = py::detail::array_descriptor_proxy(proxy(obj)->descr);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  constexpr char kNative = '>';
#else
  constexpr char kNative = '<';
#endif
  return descr->type_num == npy::NPY_FLOAT_ && (descr->byteorder == '=' || descr->byteorder == kNative) &&
         aligned_c_contiguous(obj);
}

py::object grad_sum(py::handle a_in, py::handle b_in) {
  py::object a = as_array(a_in), b = as_array(b_in);
  if (is_ndarray(a) && is_ndarray(b)) {
    if (!same_shape(a, b))
      throw py::value_error("kiln._tape: gradients of shapes " + shape_str(shape_of(a)) + " and " +
                            shape_str(shape_of(b)) + " reached the same output");
    if (is_plain_f32(a) && is_plain_f32(b)) {
      py::array_t<float> out(shape_of(a));
      const float* x = f32(a);
      const float* y = f32(b);
      float* z = out.mutable_data();
      for (py::ssize_t i = 0, n = out.size(); i < n; ++i) z[i] = x[i] + y[i];
      return std::move(out);
    }
    return checked(PyNumber_Add(a.ptr(), b.ptr()));
  }
  return call_hook(hooks().add, "add", is_ndarray(a) ? b : a, {a.ptr(), b.ptr()});
}

py::object grad_copy(py::handle g_in) {
  py::object g = as_array(g_in);
  if (is_plain_f32(g)) {
    py::array_t<float> out(shape_of(g));
    std::memcpy(out.mutable_data(), f32(g), sizeof(float) * static_cast<std::size_t>(out.size()));
    return std::move(out);
  }
  if (is_ndarray(g)) return checked(npy::get().PyArray_NewCopy_(g.ptr(), 0 /* NPY_CORDER */));
  return call_hook(hooks().copy, "copy", g, {g.ptr()});
}

void grad_iadd(py::handle dst, py::handle src_in) {
  py::object src = as_array(src_in);
  if (is_ndarray(dst) && is_ndarray(src)) {
    if (!same_shape(dst, src))
      throw py::value_error("kiln._tape: a gradient of shape " + shape_str(shape_of(src)) +
                            " for a leaf whose gradient has shape " + shape_str(shape_of(dst)));
    if (is_plain_f32(dst) && is_plain_f32(src) && (proxy(dst)->flags & npy::NPY_ARRAY_WRITEABLE_)) {
      float* d = f32(dst);
      const float* s = f32(src);
      for (py::ssize_t i = 0, n = size_of(dst); i < n; ++i) d[i] += s[i];
      return;
    }
    checked(PyNumber_InPlaceAdd(dst.ptr(), src.ptr()));
    return;
  }
  call_hook(hooks().iadd, "iadd", is_ndarray(dst) ? src : dst, {dst.ptr(), src.ptr()});
}

void grad_copy_into(py::handle dst, py::handle src_in, const char* what) {
  py::object src = as_array(src_in);
  if (src.is(dst)) return;
  if (!is_ndarray(src) || !is_ndarray(dst)) {
    call_hook(hooks().copy_into, "copy_into", is_ndarray(dst) ? src : py::reinterpret_borrow<py::object>(dst),
              {dst.ptr(), src.ptr()});
    return;
  }
  if (!same_shape(dst, src))
    throw py::value_error(std::string(what) + ": a gradient of shape " + shape_str(shape_of(src)) +
                          " for a buffer view of shape " + shape_str(shape_of(dst)));
  PyObject* sd = proxy(src)->descr;
  PyObject* dd = proxy(dst)->descr;
  if (aligned_c_contiguous(src) && aligned_c_contiguous(dst) && (sd == dd || npy::get().PyArray_EquivTypes_(sd, dd))) {
    // The same memory: a kernel wrote the gradient straight into the buffer (kiln.sparse).
    if (proxy(dst)->data != proxy(src)->data)
      std::memcpy(proxy(dst)->data, proxy(src)->data,
                  static_cast<std::size_t>(py::reinterpret_borrow<py::array>(dst).nbytes()));
    return;
  }
  if (copy_transposed_f32(dst, src)) return;
  if (npy::get().PyArray_CopyInto_(dst.ptr(), src.ptr()) != 0) throw py::error_already_set();
}

py::object grad_reshape(py::handle g_in, const std::vector<py::ssize_t>& shape) {
  py::object g = as_array(g_in);
  if (is_ndarray(g)) return py::reinterpret_borrow<py::array>(g).reshape(shape);
  py::tuple t(shape.size());
  for (std::size_t i = 0; i < shape.size(); ++i) t[i] = py::int_(shape[i]);
  return call_hook(hooks().reshape, "reshape", g, {g.ptr(), t.ptr()});
}

py::object grad_transpose(py::handle g_in, const std::vector<py::ssize_t>& axes) {
  py::object g = as_array(g_in);
  if (is_ndarray(g)) {
    // What PyArray_Transpose does: a view with permuted shape and strides (NumPy recomputes
    // the contiguity flags from the strides).
    py::array a = py::reinterpret_borrow<py::array>(g);
    if (a.ndim() != static_cast<py::ssize_t>(axes.size()))
      throw py::value_error("PermuteBackward: a gradient of " + std::to_string(a.ndim()) +
                            " dimensions for a permutation of " + std::to_string(axes.size()));
    std::vector<py::ssize_t> shape(axes.size()), strides(axes.size());
    for (std::size_t i = 0; i < axes.size(); ++i) {
      shape[i] = a.shape(axes[i]);
      strides[i] = a.strides(axes[i]);
    }
    return py::array(a.dtype(), shape, strides, a.data(), a);
  }
  py::tuple t(axes.size());
  for (std::size_t i = 0; i < axes.size(); ++i) t[i] = py::int_(axes[i]);
  return call_hook(hooks().transpose, "transpose", g, {g.ptr(), t.ptr()});
}

void bind_grad_math(py::module_& m) {
  m.def(
      "set_array_hooks",
      [](py::handle add, py::handle iadd, py::handle copy, py::handle copy_into, py::handle reshape,
         py::handle transpose) {
        Hooks h{optional_hook(add, "add"),           optional_hook(iadd, "iadd"),
                optional_hook(copy, "copy"),         optional_hook(copy_into, "copy_into"),
                optional_hook(reshape, "reshape"),   optional_hook(transpose, "transpose")};
        hooks() = std::move(h);
      },
      py::arg("add"), py::arg("iadd"), py::arg("copy"), py::arg("copy_into"), py::arg("reshape"),
      py::arg("transpose"),
      "Python callables for gradients that are not numpy ndarrays (arrays of other backends):\n"
      "add(a, b) -> new, iadd(dst, src) in place, copy(a) -> new, copy_into(dst, src) with dst\n"
      "an ndarray, reshape(a, shape) and transpose(a, axes) -> new or a view. Each may be None\n"
      "(unset: such a gradient there is a TypeError).");
}

}  // namespace kiln::tape
