// kiln._cuda: the GRU cell and sequence kernels (kiln/cuda/gru.hpp).
//
// Device pointers and the stream arrive as integers (0: the default stream; 0 for an absent
// optional array), sizes as plain ints; shapes were decided in Python
// (kiln/backends/cuda/gru.py) and the parameter checks are the C++ kernel's. The GIL is
// released while the host enqueues the work.
#include <cstdint>

#include "bindings.hpp"
#include "kiln/cuda/gru.hpp"

namespace py = pybind11;

namespace kiln::python::cuda {
namespace {

using ptr_t = std::uintptr_t;

const float* in(ptr_t p) { return as_pointer<const float>(p); }
float* out(ptr_t p) { return as_pointer<float>(p); }

}  // namespace

void bind_gru(py::module_& m) {
  m.def(
      "gru_cell_forward",
      [](ptr_t x, ptr_t h, ptr_t w_ih, ptr_t w_hh, ptr_t b_ih, ptr_t b_hh, ptr_t h_new, ptr_t gates,
         ptr_t workspace, index_t batch, index_t input_size, index_t hidden_size, ptr_t stream) {
        const GruParams p{batch, input_size, hidden_size, 1};
        py::gil_scoped_release release;
        ::kiln::cuda::gru_cell_forward(p, in(x), in(h), in(w_ih), in(w_hh), in(b_ih), in(b_hh), out(h_new),
                                       out(gates), out(workspace), as_stream(stream));
      },
      py::arg("x"), py::arg("h"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"), py::arg("b_hh"),
      py::arg("h_new"), py::arg("gates"), py::arg("workspace"), py::arg("batch"), py::arg("input_size"),
      py::arg("hidden_size"), py::arg("stream"),
      "kiln::cuda::gru_cell_forward; workspace: gru_sequence_forward_workspace(seq_len=1) floats.");
  m.def(
      "gru_cell_backward",
      [](ptr_t x, ptr_t h, ptr_t w_ih, ptr_t w_hh, ptr_t gates, ptr_t dh_new, ptr_t dx, ptr_t dh,
         ptr_t dw_ih, ptr_t dw_hh, ptr_t db_ih, ptr_t db_hh, ptr_t workspace, index_t batch,
         index_t input_size, index_t hidden_size, ptr_t stream) {
        const GruParams p{batch, input_size, hidden_size, 1};
        py::gil_scoped_release release;
        ::kiln::cuda::gru_cell_backward(p, in(x), in(h), in(w_ih), in(w_hh), in(gates), in(dh_new), out(dx),
                                        out(dh), out(dw_ih), out(dw_hh), out(db_ih), out(db_hh),
                                        out(workspace), as_stream(stream));
      },
      py::arg("x"), py::arg("h"), py::arg("w_ih"), py::arg("w_hh"), py::arg("gates"), py::arg("dh_new"),
      py::arg("dx"), py::arg("dh"), py::arg("dw_ih"), py::arg("dw_hh"), py::arg("db_ih"), py::arg("db_hh"),
      py::arg("workspace"), py::arg("batch"), py::arg("input_size"), py::arg("hidden_size"),
      py::arg("stream"),
      "kiln::cuda::gru_cell_backward; workspace: gru_sequence_backward_workspace(seq_len=1) floats.");
  m.def(
      "gru_sequence_forward",
      [](ptr_t x, ptr_t h0, ptr_t w_ih, ptr_t w_hh, ptr_t b_ih, ptr_t b_hh, ptr_t y, ptr_t h_n, ptr_t gates,
         ptr_t workspace, index_t seq_len, index_t batch, index_t input_size, index_t hidden_size,
         ptr_t stream) {
        const GruParams p{batch, input_size, hidden_size, seq_len};
        py::gil_scoped_release release;
        ::kiln::cuda::gru_sequence_forward(p, in(x), in(h0), in(w_ih), in(w_hh), in(b_ih), in(b_hh), out(y),
                                           out(h_n), out(gates), out(workspace), as_stream(stream));
      },
      py::arg("x"), py::arg("h0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"), py::arg("b_hh"),
      py::arg("y"), py::arg("h_n"), py::arg("gates"), py::arg("workspace"), py::arg("seq_len"),
      py::arg("batch"), py::arg("input_size"), py::arg("hidden_size"), py::arg("stream"),
      "kiln::cuda::gru_sequence_forward; workspace: gru_sequence_forward_workspace floats.");
  m.def(
      "gru_sequence_backward",
      [](ptr_t x, ptr_t h0, ptr_t w_ih, ptr_t w_hh, ptr_t y, ptr_t gates, ptr_t dy, ptr_t dh_n, ptr_t dx,
         ptr_t dh0, ptr_t dw_ih, ptr_t dw_hh, ptr_t db_ih, ptr_t db_hh, ptr_t workspace, index_t seq_len,
         index_t batch, index_t input_size, index_t hidden_size, ptr_t stream) {
        const GruParams p{batch, input_size, hidden_size, seq_len};
        py::gil_scoped_release release;
        ::kiln::cuda::gru_sequence_backward(p, in(x), in(h0), in(w_ih), in(w_hh), in(y), in(gates), in(dy),
                                            in(dh_n), out(dx), out(dh0), out(dw_ih), out(dw_hh), out(db_ih),
                                            out(db_hh), out(workspace), as_stream(stream));
      },
      py::arg("x"), py::arg("h0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("y"), py::arg("gates"),
      py::arg("dy"), py::arg("dh_n"), py::arg("dx"), py::arg("dh0"), py::arg("dw_ih"), py::arg("dw_hh"),
      py::arg("db_ih"), py::arg("db_hh"), py::arg("workspace"), py::arg("seq_len"), py::arg("batch"),
      py::arg("input_size"), py::arg("hidden_size"), py::arg("stream"),
      "kiln::cuda::gru_sequence_backward; workspace: gru_sequence_backward_workspace floats.");
  m.def(
      "gru_sequence_forward_workspace",
      [](index_t seq_len, index_t batch, index_t input_size, index_t hidden_size) {
        return ::kiln::cuda::gru_sequence_forward_workspace(GruParams{batch, input_size, hidden_size, seq_len});
      },
      py::arg("seq_len"), py::arg("batch"), py::arg("input_size"), py::arg("hidden_size"));
  m.def(
      "gru_sequence_backward_workspace",
      [](index_t seq_len, index_t batch, index_t input_size, index_t hidden_size) {
        return ::kiln::cuda::gru_sequence_backward_workspace(GruParams{batch, input_size, hidden_size, seq_len});
      },
      py::arg("seq_len"), py::arg("batch"), py::arg("input_size"), py::arg("hidden_size"));
}

}  // namespace kiln::python::cuda
