// kiln._cuda: the GEMM-shaped kernels (matmul, linear_backward, conv2d, the LSTM).
//
// Device pointers and the stream arrive as integers (0: the default stream), sizes as
// plain ints; every shape decision was made in Python (kiln/backends/cuda/linalg.py) and
// every parameter check is the C++ kernel's (std::invalid_argument -> ValueError, a CUDA
// error -> RuntimeError). The GIL is released while the host enqueues the work.
#include <cstdint>

#include "bindings.hpp"
#include "kiln/cuda/conv2d.hpp"
#include "kiln/cuda/linear.hpp"
#include "kiln/cuda/lstm.hpp"
#include "kiln/cuda/matmul.hpp"

namespace py = pybind11;

namespace kiln::python::cuda {
namespace {

using ptr_t = std::uintptr_t;

const float* in(ptr_t p) { return as_pointer<const float>(p); }
float* out(ptr_t p) { return as_pointer<float>(p); }
cudaStream_t stream_of(ptr_t s) { return as_stream(s); }

Conv2dParams conv_params(index_t n, index_t c, index_t h, index_t w, index_t k, index_t r,
                         index_t s, index_t stride_h, index_t stride_w, index_t pad_h,
                         index_t pad_w, index_t dilation_h, index_t dilation_w, index_t groups) {
  Conv2dParams p;
  p.n = n, p.c = c, p.h = h, p.w = w, p.k = k, p.r = r, p.s = s;
  p.stride_h = stride_h, p.stride_w = stride_w, p.pad_h = pad_h, p.pad_w = pad_w;
  p.dilation_h = dilation_h, p.dilation_w = dilation_w, p.groups = groups;
  return p;
}

LinearBackwardParams linear_params(index_t m, index_t in_features, index_t out_features,
                                   bool weight_is_out_by_in, int activation) {
  LinearBackwardParams p;
  p.m = m, p.in_features = in_features, p.out_features = out_features;
  p.weight_is_out_by_in = weight_is_out_by_in;
  p.activation = static_cast<Activation>(activation);
  return p;
}

}  // namespace

void bind_linalg(py::module_& m) {
  m.def(
      "matmul",
      [](ptr_t a, ptr_t b, ptr_t bias, ptr_t c, index_t batch, index_t m_, index_t n, index_t k,
         bool transpose_a, bool transpose_b, index_t lda, index_t ldb, index_t ldc,
         index_t batch_stride_a, index_t batch_stride_b, index_t batch_stride_c, float alpha,
         float beta, int activation, bool allow_tf32, ptr_t workspace, ptr_t stream) {
        MatmulParams p;
        p.batch = batch, p.m = m_, p.n = n, p.k = k;
        p.transpose_a = transpose_a, p.transpose_b = transpose_b;
        p.lda = lda, p.ldb = ldb, p.ldc = ldc;
        p.batch_stride_a = batch_stride_a, p.batch_stride_b = batch_stride_b;
        p.batch_stride_c = batch_stride_c;
        p.alpha = alpha, p.beta = beta;
        p.activation = static_cast<Activation>(activation);
        py::gil_scoped_release release;
        ::kiln::cuda::matmul(p, in(a), in(b), in(bias), out(c), stream_of(stream), allow_tf32,
                             out(workspace));
      },
      py::arg("a"), py::arg("b"), py::arg("bias"), py::arg("c"), py::arg("batch"), py::arg("m"),
      py::arg("n"), py::arg("k"), py::arg("transpose_a"), py::arg("transpose_b"), py::arg("lda"),
      py::arg("ldb"), py::arg("ldc"), py::arg("batch_stride_a"), py::arg("batch_stride_b"),
      py::arg("batch_stride_c"), py::arg("alpha"), py::arg("beta"), py::arg("activation"),
      py::arg("allow_tf32"), py::arg("workspace"), py::arg("stream"),
      "C[b] = act(alpha * op(A[b]) @ op(B[b]) + beta * C[b] + bias) on device pointers "
      "(kiln::cuda::matmul); activation is kiln::Activation's value; workspace 0 or "
      "matmul_workspace floats.");
  m.def(
      "matmul_workspace",
      [](index_t batch, index_t m_, index_t n, index_t k) {
        MatmulParams p;
        p.batch = batch, p.m = m_, p.n = n, p.k = k;
        return ::kiln::cuda::matmul_workspace(p);
      },
      py::arg("batch"), py::arg("m"), py::arg("n"), py::arg("k"));

  m.def(
      "linear_backward",
      [](ptr_t x, ptr_t w, ptr_t y, ptr_t dy, ptr_t scratch, ptr_t dx, ptr_t dw, ptr_t db,
         ptr_t workspace, index_t m_, index_t in_features, index_t out_features,
         bool weight_is_out_by_in, int activation, ptr_t stream) {
        const LinearBackwardParams p = linear_params(m_, in_features, out_features,
                                                     weight_is_out_by_in, activation);
        py::gil_scoped_release release;
        ::kiln::cuda::linear_backward(p, in(x), in(w), in(y), in(dy), out(scratch), out(dx), out(dw),
                              out(db), stream_of(stream), out(workspace));
      },
      py::arg("x"), py::arg("w"), py::arg("y"), py::arg("dy"), py::arg("scratch"), py::arg("dx"),
      py::arg("dw"), py::arg("db"), py::arg("workspace"), py::arg("m"), py::arg("in_features"),
      py::arg("out_features"), py::arg("weight_is_out_by_in"), py::arg("activation"),
      py::arg("stream"),
      "kiln::cuda::linear_backward; 0 for an output not asked for, or for no workspace.");
  m.def(
      "linear_backward_workspace",
      [](index_t m_, index_t in_features, index_t out_features) {
        return ::kiln::cuda::linear_backward_workspace(linear_params(m_, in_features, out_features, true, 0));
      },
      py::arg("m"), py::arg("in_features"), py::arg("out_features"));

  m.def(
      "conv2d_forward",
      [](ptr_t x, ptr_t w, ptr_t bias, ptr_t y, index_t n, index_t c, index_t h, index_t w_,
         index_t k, index_t r, index_t s, index_t stride_h, index_t stride_w, index_t pad_h,
         index_t pad_w, index_t dilation_h, index_t dilation_w, index_t groups, ptr_t stream) {
        const Conv2dParams p = conv_params(n, c, h, w_, k, r, s, stride_h, stride_w, pad_h, pad_w,
                                           dilation_h, dilation_w, groups);
        py::gil_scoped_release release;
        ::kiln::cuda::conv2d_forward(p, in(x), in(w), in(bias), out(y), stream_of(stream));
      },
      py::arg("x"), py::arg("w"), py::arg("bias"), py::arg("y"), py::arg("n"), py::arg("c"),
      py::arg("h"), py::arg("width"), py::arg("k"), py::arg("r"), py::arg("s"),
      py::arg("stride_h"), py::arg("stride_w"), py::arg("pad_h"), py::arg("pad_w"),
      py::arg("dilation_h"), py::arg("dilation_w"), py::arg("groups"), py::arg("stream"),
      "kiln::cuda::conv2d_forward (NCHW).");

  m.def(
      "conv2d_backward",
      [](ptr_t x, ptr_t w, ptr_t dy, ptr_t dx, ptr_t dw, ptr_t db, index_t n, index_t c,
         index_t h, index_t w_, index_t k, index_t r, index_t s, index_t stride_h,
         index_t stride_w, index_t pad_h, index_t pad_w, index_t dilation_h, index_t dilation_w,
         index_t groups, ptr_t workspace, ptr_t stream) {
        const Conv2dParams p = conv_params(n, c, h, w_, k, r, s, stride_h, stride_w, pad_h, pad_w,
                                           dilation_h, dilation_w, groups);
        py::gil_scoped_release release;
        ::kiln::cuda::conv2d_backward(p, in(x), in(w), in(dy), out(dx), out(dw), out(db), stream_of(stream),
                              out(workspace));
      },
      py::arg("x"), py::arg("w"), py::arg("dy"), py::arg("dx"), py::arg("dw"), py::arg("db"),
      py::arg("n"), py::arg("c"), py::arg("h"), py::arg("width"), py::arg("k"), py::arg("r"),
      py::arg("s"), py::arg("stride_h"), py::arg("stride_w"), py::arg("pad_h"), py::arg("pad_w"),
      py::arg("dilation_h"), py::arg("dilation_w"), py::arg("groups"), py::arg("workspace"),
      py::arg("stream"), "kiln::cuda::conv2d_backward; 0 for a gradient not asked for, or for no workspace.");
  m.def(
      "conv2d_backward_workspace",
      [](index_t n, index_t c, index_t h, index_t w_, index_t k, index_t r, index_t s,
         index_t stride_h, index_t stride_w, index_t pad_h, index_t pad_w, index_t dilation_h,
         index_t dilation_w, index_t groups) {
        return ::kiln::cuda::conv2d_backward_workspace(conv_params(n, c, h, w_, k, r, s, stride_h, stride_w,
                                                           pad_h, pad_w, dilation_h, dilation_w, groups));
      },
      py::arg("n"), py::arg("c"), py::arg("h"), py::arg("width"), py::arg("k"), py::arg("r"),
      py::arg("s"), py::arg("stride_h"), py::arg("stride_w"), py::arg("pad_h"), py::arg("pad_w"),
      py::arg("dilation_h"), py::arg("dilation_w"), py::arg("groups"));

  m.def(
      "lstm_cell_forward",
      [](ptr_t x, ptr_t h, ptr_t c, ptr_t w_ih, ptr_t w_hh, ptr_t b_ih, ptr_t b_hh, ptr_t h_new,
         ptr_t c_new, ptr_t gates, ptr_t workspace, index_t batch, index_t input_size,
         index_t hidden_size, ptr_t stream) {
        const LstmParams p{batch, input_size, hidden_size, 1};
        py::gil_scoped_release release;
        ::kiln::cuda::lstm_cell_forward(p, in(x), in(h), in(c), in(w_ih), in(w_hh), in(b_ih), in(b_hh),
                                out(h_new), out(c_new), out(gates), stream_of(stream), out(workspace));
      },
      py::arg("x"), py::arg("h"), py::arg("c"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"),
      py::arg("b_hh"), py::arg("h_new"), py::arg("c_new"), py::arg("gates"), py::arg("workspace"),
      py::arg("batch"),
      py::arg("input_size"), py::arg("hidden_size"), py::arg("stream"),
      "kiln::cuda::lstm_cell_forward.");

  m.def(
      "lstm_cell_backward",
      [](ptr_t x, ptr_t h, ptr_t c, ptr_t w_ih, ptr_t w_hh, ptr_t gates, ptr_t c_new,
         ptr_t dh_new, ptr_t dc_new, ptr_t dx, ptr_t dh, ptr_t dc, ptr_t dw_ih, ptr_t dw_hh,
         ptr_t db, ptr_t workspace, index_t batch, index_t input_size, index_t hidden_size,
         ptr_t stream) {
        const LstmParams p{batch, input_size, hidden_size, 1};
        py::gil_scoped_release release;
        ::kiln::cuda::lstm_cell_backward(p, in(x), in(h), in(c), in(w_ih), in(w_hh), in(gates), in(c_new),
                                 in(dh_new), in(dc_new), out(dx), out(dh), out(dc), out(dw_ih),
                                 out(dw_hh), out(db), out(workspace), stream_of(stream));
      },
      py::arg("x"), py::arg("h"), py::arg("c"), py::arg("w_ih"), py::arg("w_hh"), py::arg("gates"),
      py::arg("c_new"), py::arg("dh_new"), py::arg("dc_new"), py::arg("dx"), py::arg("dh"),
      py::arg("dc"), py::arg("dw_ih"), py::arg("dw_hh"), py::arg("db"), py::arg("workspace"),
      py::arg("batch"), py::arg("input_size"), py::arg("hidden_size"), py::arg("stream"),
      "kiln::cuda::lstm_cell_backward; workspace: lstm_cell_backward_workspace floats.");

  m.def(
      "lstm_sequence_forward",
      [](ptr_t x, ptr_t h0, ptr_t c0, ptr_t w_ih, ptr_t w_hh, ptr_t b_ih, ptr_t b_hh, ptr_t y,
         ptr_t h_n, ptr_t c_n, ptr_t gates, ptr_t cells, ptr_t workspace, index_t seq_len,
         index_t batch, index_t input_size, index_t hidden_size, ptr_t stream) {
        const LstmParams p{batch, input_size, hidden_size, seq_len};
        py::gil_scoped_release release;
        ::kiln::cuda::lstm_sequence_forward(p, in(x), in(h0), in(c0), in(w_ih), in(w_hh), in(b_ih),
                                    in(b_hh), out(y), out(h_n), out(c_n), out(gates), out(cells),
                                    stream_of(stream), out(workspace));
      },
      py::arg("x"), py::arg("h0"), py::arg("c0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"),
      py::arg("b_hh"), py::arg("y"), py::arg("h_n"), py::arg("c_n"), py::arg("gates"),
      py::arg("cells"), py::arg("workspace"), py::arg("seq_len"), py::arg("batch"), py::arg("input_size"),
      py::arg("hidden_size"), py::arg("stream"), "kiln::cuda::lstm_sequence_forward.");

  m.def(
      "lstm_sequence_backward",
      [](ptr_t x, ptr_t h0, ptr_t c0, ptr_t w_ih, ptr_t w_hh, ptr_t y, ptr_t gates, ptr_t cells,
         ptr_t dy, ptr_t dh_n, ptr_t dc_n, ptr_t dx, ptr_t dh0, ptr_t dc0, ptr_t dw_ih,
         ptr_t dw_hh, ptr_t db, ptr_t workspace, index_t seq_len, index_t batch,
         index_t input_size, index_t hidden_size, ptr_t stream) {
        const LstmParams p{batch, input_size, hidden_size, seq_len};
        py::gil_scoped_release release;
        ::kiln::cuda::lstm_sequence_backward(p, in(x), in(h0), in(c0), in(w_ih), in(w_hh), in(y), in(gates),
                                     in(cells), in(dy), in(dh_n), in(dc_n), out(dx), out(dh0),
                                     out(dc0), out(dw_ih), out(dw_hh), out(db), out(workspace),
                                     stream_of(stream));
      },
      py::arg("x"), py::arg("h0"), py::arg("c0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("y"),
      py::arg("gates"), py::arg("cells"), py::arg("dy"), py::arg("dh_n"), py::arg("dc_n"),
      py::arg("dx"), py::arg("dh0"), py::arg("dc0"), py::arg("dw_ih"), py::arg("dw_hh"),
      py::arg("db"), py::arg("workspace"), py::arg("seq_len"), py::arg("batch"),
      py::arg("input_size"), py::arg("hidden_size"), py::arg("stream"),
      "kiln::cuda::lstm_sequence_backward; workspace: lstm_sequence_backward_workspace floats.");

  m.def(
      "lstm_cell_forward_workspace",
      [](index_t batch, index_t input_size, index_t hidden_size) {
        return ::kiln::cuda::lstm_cell_forward_workspace(LstmParams{batch, input_size, hidden_size, 1});
      },
      py::arg("batch"), py::arg("input_size"), py::arg("hidden_size"));
  m.def(
      "lstm_sequence_forward_workspace",
      [](index_t seq_len, index_t batch, index_t input_size, index_t hidden_size) {
        return ::kiln::cuda::lstm_sequence_forward_workspace(
            LstmParams{batch, input_size, hidden_size, seq_len});
      },
      py::arg("seq_len"), py::arg("batch"), py::arg("input_size"), py::arg("hidden_size"));
  m.def(
      "lstm_cell_backward_workspace",
      [](index_t batch, index_t input_size, index_t hidden_size) {
        return ::kiln::cuda::lstm_cell_backward_workspace(LstmParams{batch, input_size, hidden_size, 1});
      },
      py::arg("batch"), py::arg("input_size"), py::arg("hidden_size"));
  m.def(
      "lstm_sequence_backward_workspace",
      [](index_t seq_len, index_t batch, index_t input_size, index_t hidden_size) {
        return ::kiln::cuda::lstm_sequence_backward_workspace(
            LstmParams{batch, input_size, hidden_size, seq_len});
      },
      py::arg("seq_len"), py::arg("batch"), py::arg("input_size"), py::arg("hidden_size"));
}

}  // namespace kiln::python::cuda
