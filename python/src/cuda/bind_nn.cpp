// kiln._cuda: the non-GEMM kernels of a training step (pooling, embedding, CSR x dense,
// losses, activations and softmax, Philox fills, the device index check).
//
// Device pointers and the stream arrive as integers (std::uintptr_t; 0 is null, or the
// default stream), sizes as plain ints; each binding calls the C++ API (kiln/cuda/*.hpp),
// whose std::invalid_argument pybind11 raises as ValueError and whose std::runtime_error
// (a CUDA error, naming the kernel and sizes) as RuntimeError. Nothing else is parsed.
// The kernels run asynchronously on the stream; the GIL is released while the host waits
// (the index checks read their verdict back).
#include <pybind11/pybind11.h>

#include <cstdint>
#include <utility>

#include "bindings.hpp"
#include "kiln/cuda/activation.hpp"
#include "kiln/cuda/checks.hpp"
#include "kiln/cuda/embedding.hpp"
#include "kiln/cuda/loss.hpp"
#include "kiln/cuda/pool2d.hpp"
#include "kiln/cuda/random.hpp"
#include "kiln/cuda/sparse_matmul.hpp"

namespace py = pybind11;
using kiln::index_t;
using ptr_t = std::uintptr_t;

namespace {

template <class T>
T* p(ptr_t address) {
  return reinterpret_cast<T*>(address);
}
cudaStream_t s(ptr_t stream) { return reinterpret_cast<cudaStream_t>(stream); }

kiln::Pool2dParams pool_params(index_t n, index_t c, index_t h, index_t w, index_t kh, index_t kw, index_t sh,
                               index_t sw, index_t ph, index_t pw, index_t dh, index_t dw, bool ceil_mode) {
  kiln::Pool2dParams q;
  q.n = n, q.c = c, q.h = h, q.w = w;
  q.kernel_h = kh, q.kernel_w = kw, q.stride_h = sh, q.stride_w = sw;
  q.pad_h = ph, q.pad_w = pw, q.dilation_h = dh, q.dilation_w = dw;
  q.ceil_mode = ceil_mode;
  return q;
}

kiln::CsrMatrix csr(index_t m, index_t k, index_t nnz, ptr_t indptr, ptr_t indices, ptr_t data) {
  return {m, k, nnz, p<const std::int64_t>(indptr), p<const std::int32_t>(indices), p<const float>(data)};
}

kiln::Activation activation(int code) {
  if (code < 0 || code > static_cast<int>(kiln::Activation::gelu_tanh))
    throw std::invalid_argument("activation code must be in [0, 5] (kiln::Activation), got " +
                                std::to_string(code));
  return static_cast<kiln::Activation>(code);
}

}  // namespace

namespace kiln::python::cuda {

void bind_nn(py::module_& m) {
  const auto release = py::call_guard<py::gil_scoped_release>();

  // ---- pooling (NCHW) ----
  m.def("pool2d_out_size",
        [](index_t n, index_t c, index_t h, index_t w, index_t kh, index_t kw, index_t sh, index_t sw, index_t ph,
           index_t pw, index_t dh, index_t dw, bool ceil_mode) {
          const kiln::Pool2dParams q = pool_params(n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode);
          return std::make_pair(q.out_h(), q.out_w());
        },
        "(OH, OW) of a pooling geometry (no checks).");
  m.def("max_pool2d_forward",
        [](ptr_t x, ptr_t y, ptr_t indices, index_t n, index_t c, index_t h, index_t w, index_t kh, index_t kw,
           index_t sh, index_t sw, index_t ph, index_t pw, index_t dh, index_t dw, bool ceil_mode, ptr_t stream) {
          kiln::cuda::max_pool2d_forward(pool_params(n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode),
                                         p<const float>(x), p<float>(y), p<std::int64_t>(indices), s(stream));
        },
        release, "y (and indices unless 0) = max_pool2d(x).");
  m.def("max_pool2d_backward",
        [](index_t planes, index_t in_size, index_t out_size, ptr_t dy, ptr_t indices, ptr_t dx, ptr_t stream) {
          kiln::cuda::max_pool2d_backward_scatter(planes, in_size, out_size, p<const float>(dy),
                                                  p<const std::int64_t>(indices), p<float>(dx), s(stream));
        },
        release, "dx (planes, in_size) = 0, then dy scattered to indices; the indices checked first.");
  m.def("avg_pool2d_forward",
        [](ptr_t x, ptr_t y, index_t n, index_t c, index_t h, index_t w, index_t kh, index_t kw, index_t sh,
           index_t sw, index_t ph, index_t pw, bool ceil_mode, bool count_include_pad, index_t divisor,
           ptr_t stream) {
          kiln::cuda::avg_pool2d_forward(pool_params(n, c, h, w, kh, kw, sh, sw, ph, pw, 1, 1, ceil_mode),
                                         p<const float>(x), p<float>(y), count_include_pad, divisor, s(stream));
        },
        release);
  m.def("avg_pool2d_backward",
        [](ptr_t dy, ptr_t dx, index_t n, index_t c, index_t h, index_t w, index_t kh, index_t kw, index_t sh,
           index_t sw, index_t ph, index_t pw, bool ceil_mode, bool count_include_pad, index_t divisor,
           ptr_t stream) {
          kiln::cuda::avg_pool2d_backward(pool_params(n, c, h, w, kh, kw, sh, sw, ph, pw, 1, 1, ceil_mode),
                                          p<const float>(dy), p<float>(dx), count_include_pad, divisor, s(stream));
        },
        release);

  // ---- index checks, embedding ----
  m.def("find_out_of_range",
        [](ptr_t values, index_t n, int itemsize, std::int64_t limit, bool skip_enabled, std::int64_t skip,
           ptr_t stream) {
          const kiln::cuda::BadIndex bad =
              itemsize == 4 ? kiln::cuda::find_out_of_range(p<const std::int32_t>(values), n, limit, skip_enabled,
                                                            skip, s(stream))
                            : kiln::cuda::find_out_of_range(p<const std::int64_t>(values), n, limit,
                                                            skip_enabled, skip, s(stream));
          return std::make_pair(bad.position, bad.value);
        },
        release,
        "(position, value) of the first value outside [0, limit) (and != skip when skip_enabled), "
        "position -1 if none; int32 (itemsize 4) or int64 values. Synchronises with the stream.");
  m.def("embedding_forward",
        [](index_t num_indices, ptr_t indices, index_t num_embeddings, index_t dim, ptr_t weight, ptr_t out,
           bool check_indices, ptr_t stream) {
          kiln::cuda::embedding_forward(num_indices, p<const std::int64_t>(indices), num_embeddings, dim,
                                        p<const float>(weight), p<float>(out), s(stream), check_indices);
        },
        release);
  m.def("embedding_backward",
        [](index_t num_indices, ptr_t indices, ptr_t grad_out, index_t num_embeddings, index_t dim,
           std::int64_t padding_idx, ptr_t grad_weight, bool check_indices, ptr_t stream) {
          kiln::cuda::embedding_backward(num_indices, p<const std::int64_t>(indices), p<const float>(grad_out),
                                         num_embeddings, dim, padding_idx, p<float>(grad_weight), s(stream),
                                         check_indices);
        },
        release);

  // ---- CSR x dense ----
  m.def("sparse_matmul",
        [](index_t rows, index_t cols, index_t nnz, ptr_t indptr, ptr_t indices, ptr_t data, index_t n, ptr_t w,
           bool transpose_w, ptr_t bias, float beta, ptr_t y, ptr_t stream) {
          kiln::cuda::sparse_matmul(csr(rows, cols, nnz, indptr, indices, data), n, p<const float>(w), transpose_w,
                                    p<const float>(bias), beta, p<float>(y), s(stream));
        },
        release, "Y (m, n) = X @ op(W) + bias + beta * Y; X in CSR (indptr int64, indices int32, data float32).");
  m.def("sparse_matmul_backward_weight",
        [](index_t rows, index_t cols, index_t nnz, ptr_t indptr, ptr_t indices, ptr_t data, index_t n,
           ptr_t grad_y, bool transpose_w, float beta, ptr_t grad_w, ptr_t stream) {
          kiln::cuda::sparse_matmul_backward_weight(csr(rows, cols, nnz, indptr, indices, data), n,
                                                    p<const float>(grad_y), transpose_w, beta, p<float>(grad_w),
                                                    s(stream));
        },
        release);

  // ---- losses: `loss` is one device float ----
  m.def("softmax_cross_entropy",
        [](index_t rows, index_t classes, ptr_t logits, ptr_t target, bool class_indices, std::int64_t ignore_index,
           float label_smoothing, float grad_scale, ptr_t loss, ptr_t grad, ptr_t stream) {
          kiln::CrossEntropyParams q;
          q.rows = rows, q.classes = classes, q.ignore_index = ignore_index;
          q.label_smoothing = label_smoothing, q.grad_scale = grad_scale;
          if (class_indices)
            kiln::cuda::softmax_cross_entropy(q, p<const float>(logits), p<const std::int64_t>(target),
                                              p<float>(loss), p<float>(grad), s(stream));
          else
            kiln::cuda::softmax_cross_entropy_probs(q, p<const float>(logits), p<const float>(target),
                                                    p<float>(loss), p<float>(grad), s(stream));
        },
        release, "class_indices: target (N,) int64 (checked on the device), else (N, C) float32.");
  m.def("bce_with_logits",
        [](index_t rows, index_t cols, ptr_t logits, ptr_t target, ptr_t pos_weight, float grad_scale, ptr_t loss,
           ptr_t grad, ptr_t stream) {
          kiln::cuda::bce_with_logits(rows, cols, p<const float>(logits), p<const float>(target),
                                      p<const float>(pos_weight), grad_scale, p<float>(loss), p<float>(grad),
                                      s(stream));
        },
        release);
  m.def("mse",
        [](index_t n, ptr_t pred, ptr_t target, float grad_scale, ptr_t loss, ptr_t grad, ptr_t stream) {
          kiln::cuda::mse(n, p<const float>(pred), p<const float>(target), grad_scale, p<float>(loss),
                          p<float>(grad), s(stream));
        },
        release);

  // ---- activations (kiln::Activation codes: none 0, relu 1, sigmoid 2, tanh 3, gelu 4,
  // gelu_tanh 5) and softmax over a (outer, cols, inner) view ----
  m.def("activation_forward",
        [](int act, index_t n, ptr_t x, ptr_t y, ptr_t stream) {
          kiln::cuda::activation_forward(activation(act), n, p<const float>(x), p<float>(y), s(stream));
        },
        release);
  m.def("activation_backward",
        [](int act, index_t n, ptr_t x, ptr_t y, ptr_t dy, ptr_t dx, ptr_t stream) {
          kiln::cuda::activation_backward(activation(act), n, p<const float>(x), p<const float>(y),
                                          p<const float>(dy), p<float>(dx), s(stream));
        },
        release);
  m.def("softmax_forward",
        [](index_t outer, index_t cols, index_t inner, ptr_t x, ptr_t y, bool log, ptr_t stream) {
          kiln::cuda::softmax_forward(outer, cols, inner, p<const float>(x), p<float>(y), log, s(stream));
        },
        release);
  m.def("softmax_backward",
        [](index_t outer, index_t cols, index_t inner, ptr_t y, ptr_t dy, ptr_t dx, bool log, ptr_t stream) {
          kiln::cuda::softmax_backward(outer, cols, inner, p<const float>(y), p<const float>(dy), p<float>(dx), log,
                                       s(stream));
        },
        release);

  // ---- Philox4x32-10 fills, reproducible from (seed, offset) ----
  m.def("random_uniform",
        [](ptr_t out, index_t n, std::uint64_t seed, std::uint64_t offset, ptr_t stream) {
          kiln::cuda::random_uniform(p<float>(out), n, seed, offset, s(stream));
        },
        py::arg("ptr"), py::arg("n"), py::arg("seed"), py::arg("offset"), py::arg("stream") = 0, release,
        "out[i] = uniform [0, 1) draw of element offset + i of the stream `seed`.");
  m.def("random_normal",
        [](ptr_t out, index_t n, std::uint64_t seed, std::uint64_t offset, float mean, float std, ptr_t stream) {
          kiln::cuda::random_normal(p<float>(out), n, seed, offset, mean, std, s(stream));
        },
        py::arg("ptr"), py::arg("n"), py::arg("seed"), py::arg("offset"), py::arg("mean") = 0.0f,
        py::arg("std") = 1.0f, py::arg("stream") = 0, release, "Box-Muller normals, mean + std * N(0, 1).");
  m.def("random_dropout",
        [](ptr_t mask, ptr_t x, ptr_t y, index_t n, float prob, std::uint64_t seed, std::uint64_t offset,
           ptr_t stream) {
          kiln::cuda::random_dropout(p<float>(mask), p<const float>(x), p<float>(y), n, prob, seed, offset,
                                     s(stream));
        },
        py::arg("mask"), py::arg("x"), py::arg("y"), py::arg("n"), py::arg("p"), py::arg("seed"),
        py::arg("offset"), py::arg("stream") = 0, release,
        "mask = uniform >= p ? 1 / (1 - p) : 0 (mask 0: not written); y = x * mask unless x, y are 0.");
}

}  // namespace kiln::python::cuda
