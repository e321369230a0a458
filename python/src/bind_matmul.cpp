#include <string>

#include "activation_arg.hpp"
#include "arrays.hpp"
#include "bindings.hpp"
#include "kiln/matmul.hpp"
#include "kiln/transpose.hpp"

namespace kiln::bind {
namespace {

constexpr const char* kFn = "matmul";

// A 2-D or 3-D operand with unit stride along its last axis and non-negative strides.
struct MatrixArg {
  py::array array;
  index_t batch = 1, rows = 0, cols = 0, ld = 0, batch_stride = 0;
  bool batched = false;
};

MatrixArg matrix_arg(const char* arg, py::handle obj) {
  MatrixArg m;
  m.array = float32_array(kFn, arg, obj);
  require_ndim(kFn, arg, m.array, {2, 3});
  const int nd = static_cast<int>(m.array.ndim());
  m.batched = nd == 3;
  m.rows = m.array.shape(nd - 2);
  m.cols = m.array.shape(nd - 1);
  m.batch = m.batched ? m.array.shape(0) : 1;
  if (m.array.size() == 0) {  // no element is read or written: strides do not matter
    m.ld = std::max<index_t>(m.cols, 1);
    m.batch_stride = m.ld * m.rows;
    return m;
  }
  for (int d = 0; d < nd; ++d) {
    if (m.array.strides(d) < 0 || m.array.strides(d) % static_cast<py::ssize_t>(sizeof(float))) {
      throw py::value_error(std::string(kFn) + ": " + arg +
                            " has negative or unaligned strides; pass numpy.ascontiguousarray(" +
                            arg + ")");
    }
  }
  if (m.cols > 1 && elem_stride(m.array, nd - 1) != 1) {
    throw py::value_error(std::string(kFn) + ": " + arg +
                          " must have unit stride along its last axis (a row-strided view is "
                          "fine, a transposed view is not: use transpose_" + arg + "=True)");
  }
  m.ld = m.rows > 1 ? elem_stride(m.array, nd - 2) : m.cols;
  if (m.ld < m.cols) m.ld = m.cols;  // a single row or a zero stride view of one row
  m.batch_stride = m.batched && m.batch > 1 ? elem_stride(m.array, 0) : 0;
  return m;
}

void matmul_binding(py::handle a_obj, py::handle b_obj, py::handle out_obj, py::handle bias_obj,
                    bool transpose_a, bool transpose_b, float alpha, float beta,
                    py::handle activation) {
  MatrixArg a = matrix_arg("a", a_obj);
  MatrixArg b = matrix_arg("b", b_obj);
  MatrixArg c = matrix_arg("out", out_obj);
  py::array bias = optional_float32_array(kFn, "bias", bias_obj);
  const Activation act = parse_activation(kFn, activation);

  const index_t m = transpose_a ? a.cols : a.rows, k = transpose_a ? a.rows : a.cols;
  const index_t kb = transpose_b ? b.cols : b.rows, n = transpose_b ? b.rows : b.cols;
  auto ops = [&] {  // built only for an error message: a small product is over in microseconds
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
  const std::vector<index_t> want = batched ? std::vector<index_t>{batch, m, n}
                                            : std::vector<index_t>{m, n};
  require_shape(kFn, "out", c.array, want);
  require_writeable(kFn, "out", c.array);
  if (bias) {
    require_shape(kFn, "bias", bias, {n});
    require_c_contiguous(kFn, "bias", bias);
  }
  require_no_overlap(kFn, "out", c.array, {{"a", &a.array}, {"b", &b.array}, {"bias", &bias}});

  MatmulParams p;
  p.batch = batch;
  p.m = m;
  p.n = n;
  p.k = k;
  p.transpose_a = transpose_a;
  p.transpose_b = transpose_b;
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
  py::gil_scoped_release release;
  matmul(p, a_ptr, b_ptr, bias_ptr, c_ptr);
}

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
  m.def("matmul", &matmul_binding, py::arg("a"), py::arg("b"), py::arg("out"),
        py::arg("bias") = py::none(), py::arg("transpose_a") = false,
        py::arg("transpose_b") = false, py::arg("alpha") = 1.0f, py::arg("beta") = 0.0f,
        py::arg("activation") = py::none(),
        "out = act(alpha * op(a) @ op(b) + beta * out + bias), written in place.\n"
        "a: (m, k) or (k, m) if transpose_a, optionally with a leading batch axis; b likewise\n"
        "(k, n) or (n, k); out: (m, n) or (batch, m, n); bias: (n,).");
  m.def("transpose_copy", &transpose_copy_binding, py::arg("src"), py::arg("dst"),
        "dst (rows, cols) C-contiguous = src, a transposed view of a row-major matrix (the layout copy "
        "a transposed weight needs), in cache-sized tiles.");
}

}  // namespace kiln::bind
