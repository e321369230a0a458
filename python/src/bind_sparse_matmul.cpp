#include <string>

#include "arrays.hpp"
#include "bindings.hpp"
#include "kiln/sparse_matmul.hpp"

namespace kiln::bind {
namespace {

// The CSR parts of X (m, k): data float32 (nnz,), indices int32 (nnz,), indptr int64 (m + 1,),
// each 1-D and C-contiguous. The kernel checks their contents (monotone indptr, indices < k).
struct CsrArgs {
  py::array data, indices, indptr;
  CsrMatrix x;
};

CsrArgs csr_args(const char* fn, py::handle data_obj, py::handle indices_obj,
                 py::handle indptr_obj, index_t k) {
  CsrArgs a;
  a.data = float32_array(fn, "data", data_obj);
  if (!py::isinstance<py::array>(indices_obj) ||
      !py::reinterpret_borrow<py::array>(indices_obj).dtype().is(py::dtype::of<std::int32_t>())) {
    const std::string got = py::isinstance<py::array>(indices_obj)
        ? "ndarray of " + std::string(py::str(py::reinterpret_borrow<py::array>(indices_obj).dtype()))
        : std::string(py::str(py::type::handle_of(indices_obj).attr("__name__")));
    throw py::type_error(std::string(fn) + ": indices must be a numpy.ndarray of int32, got " + got);
  }
  a.indices = py::reinterpret_borrow<py::array>(indices_obj);
  a.indptr = int64_array(fn, "indptr", indptr_obj);
  for (auto [name, arr] : {std::pair<const char*, py::array*>{"data", &a.data},
                           {"indices", &a.indices}, {"indptr", &a.indptr}}) {
    require_ndim(fn, name, *arr, {1});
    require_c_contiguous(fn, name, *arr);
  }
  if (a.indptr.shape(0) < 1)
    throw py::value_error(std::string(fn) + ": indptr must have m + 1 >= 1 entries, got 0");
  if (a.indices.shape(0) != a.data.shape(0)) {
    throw py::value_error(std::string(fn) + ": indices " + shape_str(a.indices) + " and data " +
                          shape_str(a.data) + " must have the same length (nnz)");
  }
  if (k < 0) throw py::value_error(std::string(fn) + ": k must be >= 0, got " + std::to_string(k));
  a.x.rows = a.indptr.shape(0) - 1;
  a.x.cols = k;
  a.x.nnz = a.data.shape(0);
  a.x.indptr = static_cast<const std::int64_t*>(a.indptr.data());
  a.x.indices = static_cast<const std::int32_t*>(a.indices.data());
  a.x.data = f32_data(a.data);
  return a;
}

// A float32 C-contiguous matrix: (k, n), or (n, k) when transposed; returns n.
index_t weight_like(const char* fn, const char* arg, const py::array& w, index_t k, bool transposed) {
  require_ndim(fn, arg, w, {2});
  require_c_contiguous(fn, arg, w);
  const index_t rows = transposed ? -1 : k, cols = transposed ? k : -1;
  require_shape(fn, arg, w, {rows, cols});
  return transposed ? w.shape(0) : w.shape(1);
}

void sparse_matmul_binding(py::handle data, py::handle indices, py::handle indptr, index_t k,
                           py::handle w_obj, py::handle bias_obj, bool transpose_w, float beta,
                           py::handle y_obj) {
  constexpr const char* kFn = "sparse_matmul";
  CsrArgs a = csr_args(kFn, data, indices, indptr, k);
  py::array w = float32_array(kFn, "w", w_obj);
  const index_t n = weight_like(kFn, transpose_w ? "w (n, k)" : "w (k, n)", w, k, transpose_w);
  py::array bias = optional_float32_array(kFn, "bias", bias_obj);
  if (bias) {
    require_shape(kFn, "bias", bias, {n});
    require_c_contiguous(kFn, "bias", bias);
  }
  py::array y = float32_array(kFn, "y", y_obj);
  require_shape(kFn, "y", y, {a.x.rows, n});
  require_c_contiguous(kFn, "y", y);
  require_writeable(kFn, "y", y);
  require_no_overlap(kFn, "y", y, {{"data", &a.data}, {"indices", &a.indices},
                                   {"indptr", &a.indptr}, {"w", &w}, {"bias", &bias}});
  const float* wp = f32_data(w);
  const float* bp = f32_data(bias);
  float* yp = f32_mutable_data(y);
  py::gil_scoped_release release;
  sparse_matmul(a.x, n, wp, transpose_w, bp, beta, yp);
}

void sparse_matmul_backward_weight_binding(py::handle data, py::handle indices,
                                           py::handle indptr, index_t k, py::handle grad_y_obj,
                                           bool transpose_w, float beta, py::handle grad_w_obj) {
  constexpr const char* kFn = "sparse_matmul_backward_weight";
  CsrArgs a = csr_args(kFn, data, indices, indptr, k);
  py::array grad_w = float32_array(kFn, "grad_w", grad_w_obj);
  const index_t n =
      weight_like(kFn, transpose_w ? "grad_w (n, k)" : "grad_w (k, n)", grad_w, k, transpose_w);
  py::array grad_y = float32_array(kFn, "grad_y", grad_y_obj);
  require_shape(kFn, "grad_y", grad_y, {a.x.rows, n});
  require_c_contiguous(kFn, "grad_y", grad_y);
  require_writeable(kFn, "grad_w", grad_w);
  require_no_overlap(kFn, "grad_w", grad_w, {{"data", &a.data}, {"indices", &a.indices},
                                             {"indptr", &a.indptr}, {"grad_y", &grad_y}});
  const float* gy = f32_data(grad_y);
  float* gw = f32_mutable_data(grad_w);
  py::gil_scoped_release release;
  sparse_matmul_backward_weight(a.x, n, gy, transpose_w, beta, gw);
}

}  // namespace

void bind_sparse_matmul(py::module_& m) {
  m.def("sparse_matmul", &sparse_matmul_binding, py::arg("data"), py::arg("indices"),
        py::arg("indptr"), py::arg("k"), py::arg("w"), py::arg("bias"), py::arg("transpose_w"),
        py::arg("beta"), py::arg("y"),
        "y (m, n) = X @ op(w) + bias + beta * y, X (m, k) in CSR form (data float32, indices\n"
        "int32, indptr int64 (m + 1,)); w (k, n), or (n, k) with transpose_w. Writes y.");
  m.def("sparse_matmul_backward_weight", &sparse_matmul_backward_weight_binding, py::arg("data"),
        py::arg("indices"), py::arg("indptr"), py::arg("k"), py::arg("grad_y"),
        py::arg("transpose_w"), py::arg("beta"), py::arg("grad_w"),
        "grad_w (k, n) = X^T @ grad_y + beta * grad_w (or its transpose (n, k) with\n"
        "transpose_w), X (m, k) in CSR form, grad_y (m, n). Writes grad_w.");
}

}  // namespace kiln::bind
