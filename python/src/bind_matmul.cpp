// kiln._C.matmul: the cpu backend's matmul kernel itself (backends/cpu.py takes it as its
// method), so that a product crosses into C++ once and pays no Python parse: a 64^3
// product is ~2 us of arithmetic, about what the parse and a Python method cost before.
//
//   matmul(a, b, transpose_a, transpose_b, bias, activation, alpha, beta, out) -> out
//   a (m, k), or (k, m) with transpose_a; b (k, n), or (n, k) with transpose_b; either with
//   a leading batch axis (a 2-D operand or a batch of 1 is broadcast); bias (n,);
//   out (m, n) or (batch, m, n), allocated when None.
//
// kiln.ops passes its caller's arguments as they are. float32 arrays are read in place
// wherever the GEMM can (any row and batch strides; a transposed view as its base with the
// flag flipped); float64 arrays and other layouts are copied to float32 first. Arguments
// this does not take as they are (a, b or bias not an ndarray, alpha or beta not a Python
// float, an activation neither a str nor None) give None before anything is checked or
// read: kiln.ops then parses them (its conversions, its errors) and calls again. Every
// other check is here.
#include <string>

#include "activation_arg.hpp"
#include "arrays.hpp"
#include "bindings.hpp"
#include "kiln/matmul.hpp"
#include "kiln/transpose.hpp"

namespace kiln::bind {
namespace {

constexpr const char* kFn = "matmul";
// Below this a product takes a few microseconds on the calling thread (the GEMM's own
// threshold for threads): handing the GIL over and back would cost more than it frees.
constexpr double kKeepGilFlops = 1e6;
using npy = py::detail::npy_api;

// How the GEMM reads an operand: `batch` matrices of rows x cols (unit stride along a row)
// with leading dimension ld, from `array` (the caller's, or a float32 copy).
struct MatrixArg {
  py::array array;
  index_t batch = 1, rows = 0, cols = 0, ld = 0, batch_stride = 0;
  bool batched = false;
  bool flipped = false;  // rows and columns are the caller's columns and rows
};

bool is_ndarray(py::handle obj) { return npy::get().PyArray_Check_(obj.ptr()); }

// NumPy's type number of an ndarray's dtype; -1 unless in native byte order.
int native_type_num(py::handle obj) {
  const auto* d = py::detail::array_descriptor_proxy(py::detail::array_proxy(obj.ptr())->descr);
  return d->byteorder == '=' || d->byteorder == '|' ? d->type_num : -1;
}

std::string float_dtype_error(const char* arg, const py::array& array) {
  return std::string(kFn) + ": " + arg + " must be a float32 or float64 array, got dtype " +
         std::string(py::str(array.dtype()));
}

// m read from `array` with rows along axis r and columns along axis c (its last two axes, in
// either order); false where the GEMM cannot read it in place: a stride negative or not a
// whole number of floats, columns not adjacent, rows closer than a row's length (a
// broadcast view). Axes of one element are not looked at (NumPy gives them any stride).
bool read_in_place(const py::array& array, int r, int c, MatrixArg& m) {
  const int nd = static_cast<int>(array.ndim());
  m.rows = array.shape(r);
  m.cols = array.shape(c);
  m.batched = nd == 3;
  m.batch = m.batched ? array.shape(0) : 1;
  if (array.size() == 0) {  // no element is read or written: strides do not matter
    m.ld = std::max<index_t>(m.cols, 1);
    m.batch_stride = m.ld * m.rows;
    return true;
  }
  for (int d = 0; d < nd; ++d) {
    const py::ssize_t s = array.strides(d);
    if (array.shape(d) > 1 && (s < 0 || s % static_cast<py::ssize_t>(sizeof(float)))) return false;
  }
  if (m.cols > 1 && elem_stride(array, c) != 1) return false;
  m.ld = m.rows > 1 ? elem_stride(array, r) : m.cols;
  if (m.ld < m.cols) return false;
  m.batch_stride = m.batched && m.batch > 1 ? elem_stride(array, 0) : 0;
  return true;
}

// A float32 C-contiguous copy of a float array, refused before it is made when no kernel
// would take it.
py::array float32_copy(const char* arg, const py::array& x) {
  if (x.size() > kMaxElements) {
    throw py::value_error(std::string(kFn) + ": " + arg + " of shape " + shape_str(x) + " has " +
                          std::to_string(x.size()) + " elements, more than kiln's limit of " +
                          std::to_string(kMaxElements) + " per operand");
  }
  const int flags = npy::NPY_ARRAY_C_CONTIGUOUS_ | npy::NPY_ARRAY_ALIGNED_ |
                    npy::NPY_ARRAY_FORCECAST_ | npy::NPY_ARRAY_ENSUREARRAY_;
  PyObject* copy = npy::get().PyArray_FromAny_(x.ptr(), py::dtype::of<float>().release().ptr(),
                                               0, 0, flags, nullptr);
  if (copy == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::array>(copy);
}

// An operand given as an ndarray: float32 read in place (or as its transpose), else copied.
MatrixArg matrix_arg(const char* arg, py::handle obj) {
  const auto array = py::reinterpret_borrow<py::array>(obj);
  const int type = native_type_num(obj);
  if (type != npy::NPY_FLOAT_ && type != npy::NPY_DOUBLE_) {
    throw py::type_error(float_dtype_error(arg, array));
  }
  require_ndim(kFn, arg, array, {2, 3});
  const int nd = static_cast<int>(array.ndim());
  MatrixArg m;
  if (type == npy::NPY_FLOAT_) {
    m.array = array;
    if (read_in_place(array, nd - 2, nd - 1, m)) return m;
    m.flipped = true;
    if (read_in_place(array, nd - 1, nd - 2, m)) return m;
    m.flipped = false;
  }
  m.array = float32_copy(arg, array);
  read_in_place(m.array, nd - 2, nd - 1, m);  // a C-contiguous copy: always readable
  return m;
}

// bias: null for None, else float32 of shape (n,), C-contiguous (copied when it is not).
py::array bias_arg(py::handle obj, index_t n) {
  if (obj.is_none()) return py::reinterpret_borrow<py::array>(py::handle());
  const auto bias = py::reinterpret_borrow<py::array>(obj);
  const int type = native_type_num(obj);
  if (type != npy::NPY_FLOAT_ && type != npy::NPY_DOUBLE_) {
    throw py::type_error(float_dtype_error("bias", bias));
  }
  if (bias.ndim() != 1 || bias.shape(0) != n) {
    throw py::value_error(std::string(kFn) + ": bias must have shape (" + std::to_string(n) +
                          ",), got " + shape_str(bias));
  }
  if (type == npy::NPY_FLOAT_ && (bias.flags() & py::array::c_style)) return bias;
  return float32_copy("bias", bias);
}

// out as the caller gave it: float32, of shape `want` (ndim entries), writeable, rows apart.
MatrixArg out_arg(py::handle obj, const index_t* want, int ndim) {
  MatrixArg c;
  c.array = float32_array(kFn, "out", obj);
  bool shape_ok = c.array.ndim() == ndim;
  for (int d = 0; shape_ok && d < ndim; ++d) shape_ok = c.array.shape(d) == want[d];
  if (!shape_ok) require_shape(kFn, "out", c.array, std::vector<index_t>(want, want + ndim));
  require_writeable(kFn, "out", c.array);
  if (!read_in_place(c.array, ndim - 2, ndim - 1, c)) {
    throw py::value_error(std::string(kFn) +
                          ": out must have unit stride along its last axis, non-negative strides "
                          "and rows that do not overlap (a row-strided view is fine); kiln writes "
                          "outputs in place and will not copy them");
  }
  return c;
}

// A new C-contiguous float32 array, refused (not allocated) when no kernel would take it.
py::array new_output(const index_t* shape, int ndim) {
  index_t count = 1;
  for (int d = 0; d < ndim; ++d) count *= shape[d];
  if (count > kMaxElements) {
    throw py::value_error(std::string(kFn) + ": an output of shape " +
                          shape_str(std::vector<index_t>(shape, shape + ndim)) + " has " +
                          std::to_string(count) + " elements, more than kiln's limit of " +
                          std::to_string(kMaxElements) + " per operand");
  }
  Py_intptr_t dims[3];
  for (int d = 0; d < ndim; ++d) dims[d] = static_cast<Py_intptr_t>(shape[d]);
  auto& api = npy::get();
  PyObject* out = api.PyArray_NewFromDescr_(api.PyArray_Type_, py::dtype::of<float>().release().ptr(),
                                            ndim, dims, nullptr, nullptr, 0, nullptr);
  if (out == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::array>(out);
}

bool truth(py::handle obj) {
  const int t = PyObject_IsTrue(obj.ptr());
  if (t < 0) throw py::error_already_set();
  return t != 0;
}

py::object matmul_binding(py::handle a_obj, py::handle b_obj, py::handle transpose_a_obj,
                          py::handle transpose_b_obj, py::handle bias_obj, py::handle activation,
                          py::handle alpha_obj, py::handle beta_obj, py::handle out_obj) {
  if (!is_ndarray(a_obj) || !is_ndarray(b_obj) || !(bias_obj.is_none() || is_ndarray(bias_obj)) ||
      !PyFloat_Check(alpha_obj.ptr()) || !PyFloat_Check(beta_obj.ptr()) ||
      !(activation.is_none() || PyUnicode_Check(activation.ptr()))) {
    return py::none();  // for kiln.ops to parse
  }
  const bool transpose_a = truth(transpose_a_obj), transpose_b = truth(transpose_b_obj);
  const auto alpha = static_cast<float>(PyFloat_AS_DOUBLE(alpha_obj.ptr()));
  const auto beta = static_cast<float>(PyFloat_AS_DOUBLE(beta_obj.ptr()));
  const MatrixArg a = matrix_arg("a", a_obj);
  const MatrixArg b = matrix_arg("b", b_obj);
  const Activation act = parse_activation(kFn, activation);
  if (beta != 0.0f && out_obj.is_none()) {
    throw py::value_error("matmul: beta != 0 accumulates into out, so out must be given");
  }

  // The caller's view: (rows, cols) and the flag as given, for the shapes and the messages.
  const index_t m = transpose_a != a.flipped ? a.cols : a.rows;
  const index_t k = transpose_a != a.flipped ? a.rows : a.cols;
  const index_t kb = transpose_b != b.flipped ? b.cols : b.rows;
  const index_t n = transpose_b != b.flipped ? b.rows : b.cols;
  auto ops = [&] {  // built only for an error message
    return std::string("a") + (transpose_a ? ".T" : "") + " " + shape_str(a.array) + " @ b" +
           (transpose_b ? ".T" : "") + " " + shape_str(b.array);
  };
  if (k != kb) throw py::value_error("matmul: inner dimensions differ: " + ops());
  if (a.batched && b.batched && a.batch != b.batch && a.batch != 1 && b.batch != 1) {
    throw py::value_error("matmul: batch sizes differ: " + ops());
  }
  // NumPy's broadcast: a batch of 1 (or a 2-D operand) takes the other's size, 0 included.
  const bool batched = a.batched || b.batched;
  const index_t batch = !batched ? 1 : !a.batched || a.batch == 1 ? b.batch : a.batch;
  const index_t batched_shape[3] = {batch, m, n};
  const index_t* want = batched ? batched_shape : batched_shape + 1;
  const int out_ndim = batched ? 3 : 2;
  const py::array bias = bias_arg(bias_obj, n);

  MatrixArg c;
  if (out_obj.is_none()) {
    c.array = new_output(want, out_ndim);
    read_in_place(c.array, out_ndim - 2, out_ndim - 1, c);
  } else {
    c = out_arg(out_obj, want, out_ndim);
    require_no_overlap(kFn, "out", c.array, {{"a", &a.array}, {"b", &b.array}, {"bias", &bias}});
  }

  MatmulParams p;
  p.batch = batch;
  p.m = m;
  p.n = n;
  p.k = k;
  p.transpose_a = transpose_a != a.flipped;
  p.transpose_b = transpose_b != b.flipped;
  p.lda = a.ld;
  p.ldb = b.ld;
  p.ldc = c.ld;
  p.batch_stride_a = a.batch == batch ? a.batch_stride : 0;
  p.batch_stride_b = b.batch == batch ? b.batch_stride : 0;
  p.batch_stride_c = c.batch_stride;
  p.alpha = alpha;
  p.beta = beta;
  p.activation = act;
  const float* a_ptr = f32_data(a.array);
  const float* b_ptr = f32_data(b.array);
  const float* bias_ptr = f32_data(bias);
  float* c_ptr = f32_mutable_data(c.array);
  if (2.0 * batch * m * n * k < kKeepGilFlops) {
    matmul(p, a_ptr, b_ptr, bias_ptr, c_ptr);
  } else {
    py::gil_scoped_release release;
    matmul(p, a_ptr, b_ptr, bias_ptr, c_ptr);
  }
  return std::move(c.array);
}

// The Python function (METH_FASTCALL), without pybind11's dispatcher: its argument vectors,
// function record and casters cost ~0.1 us a call, 4% of a 64^3 product. Arguments by
// position or name; exceptions translated as pybind11 translates them.
constexpr const char* kArgNames[] = {"a", "b", "transpose_a", "transpose_b", "bias",
                                     "activation", "alpha", "beta", "out"};
constexpr Py_ssize_t kArgCount = 9;
PyObject* one_obj = nullptr;   // the defaults of alpha and beta, made once
PyObject* zero_obj = nullptr;

PyObject* matmul_entry(PyObject*, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* v[kArgCount] = {nullptr, nullptr, Py_False, Py_False, Py_None, Py_None, one_obj, zero_obj, Py_None};
  bool given[kArgCount] = {};
  if (nargs > kArgCount) {
    PyErr_Format(PyExc_TypeError, "matmul() takes at most %zd arguments (%zd given)", kArgCount, nargs);
    return nullptr;
  }
  for (Py_ssize_t i = 0; i < nargs; ++i) {
    v[i] = args[i];
    given[i] = true;
  }
  const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t j = 0; j < nkw; ++j) {
    PyObject* name = PyTuple_GET_ITEM(kwnames, j);
    Py_ssize_t i = 0;
    while (i < kArgCount && PyUnicode_CompareWithASCIIString(name, kArgNames[i]) != 0) ++i;
    if (i == kArgCount || given[i]) {
      PyErr_Format(PyExc_TypeError, i == kArgCount ? "matmul() got an unexpected keyword argument '%U'"
                                                   : "matmul() got multiple values for argument '%U'",
                   name);
      return nullptr;
    }
    v[i] = args[nargs + j];
    given[i] = true;
  }
  if (!given[0] || !given[1]) {
    PyErr_SetString(PyExc_TypeError, "matmul() missing required argument 'a' or 'b'");
    return nullptr;
  }
  try {
    return matmul_binding(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]).release().ptr();
  } catch (...) {
    py::detail::try_translate_exceptions();
    return nullptr;
  }
}

PyMethodDef matmul_def = {
    "matmul", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&matmul_entry)),
    METH_FASTCALL | METH_KEYWORDS,
    "matmul(a, b, transpose_a=False, transpose_b=False, bias=None, activation=None, alpha=1.0,\n"
    "beta=0.0, out=None): act(alpha * op(a) @ op(b) + beta * out + bias), written into out\n"
    "(allocated when None) and returned; None, doing nothing, for arguments kiln.ops must parse\n"
    "first (a, b or bias not an ndarray, alpha or beta not a float, activation not a str or\n"
    "None). a: (m, k) or (k, m) if transpose_a, optionally with a leading batch axis; b likewise\n"
    "(k, n) or (n, k); out: (m, n) or (batch, m, n); bias: (n,)."};

// The layout copy of a transposed operand (a Keras kernel read as an (out, in) weight) for the
// kernels that read row-major operands only.
// src: a float32 (rows, cols) view whose columns are contiguous (the transpose of a row-major
// matrix, rows spaced by any leading dimension); dst: a C-contiguous (rows, cols) output.
void transpose_copy_binding(py::handle src_obj, py::handle dst_obj) {
  constexpr const char* kFn = "transpose_copy";
  py::array src = float32_array(kFn, "src", src_obj);
  py::array dst = float32_array(kFn, "dst", dst_obj);
  require_ndim(kFn, "src", src, {2});
  const index_t rows = src.shape(0), cols = src.shape(1);
  require_shape(kFn, "dst", dst, {rows, cols});
  require_c_contiguous(kFn, "dst", dst);
  require_writeable(kFn, "dst", dst);
  require_no_overlap(kFn, "dst", dst, {{"src", &src}});
  const auto item = static_cast<py::ssize_t>(sizeof(float));
  const py::ssize_t ld = src.strides(1) / item;
  if ((rows > 1 && src.strides(0) != item) || src.strides(1) % item != 0 || (cols > 1 && ld < rows)) {
    throw py::value_error(std::string(kFn) + ": src must be the transpose of a row-major matrix (strides (4, 4*ld), "
                          "ld >= rows), got strides (" + std::to_string(src.strides(0)) + ", " +
                          std::to_string(src.strides(1)) + ")");
  }
  const float* s = f32_data(src);
  float* d = f32_mutable_data(dst);
  py::gil_scoped_release release;
  transpose_copy(rows, cols, s, cols > 1 ? ld : std::max<index_t>(rows, 1), d);
}

}  // namespace

void bind_matmul(py::module_& m) {
  one_obj = PyFloat_FromDouble(1.0);
  zero_obj = PyFloat_FromDouble(0.0);
  if (one_obj == nullptr || zero_obj == nullptr) throw py::error_already_set();
  PyObject* fn = PyCFunction_NewEx(&matmul_def, nullptr, m.attr("__name__").ptr());
  if (fn == nullptr) throw py::error_already_set();
  m.add_object("matmul", py::reinterpret_steal<py::object>(fn));
  m.def("transpose_copy", &transpose_copy_binding, py::arg("src"), py::arg("dst"),
        "dst (rows, cols) C-contiguous = src, a transposed view of a row-major matrix (the layout copy "
        "a transposed weight needs), in cache-sized tiles.");
}

}  // namespace kiln::bind
