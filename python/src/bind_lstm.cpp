#include <memory>
#include <string>
#include <vector>

#include "arrays.hpp"
#include "bindings.hpp"
#include "recurrent_args.hpp"
#include "kiln/lstm.hpp"

namespace kiln::bind {
namespace {

using LstmArgs = RecurrentArgs;

void lstm_cell_forward_binding(py::handle x_obj, py::handle h_obj, py::handle c_obj,
                               py::handle w_ih_obj, py::handle w_hh_obj, py::handle b_ih_obj,
                               py::handle b_hh_obj, py::handle h_new_obj, py::handle c_new_obj,
                               py::handle gates_obj) {
  LstmArgs args("lstm_cell_forward");
  const std::vector<index_t> xs = args.x_shape(x_obj, 2);
  const index_t B = xs[0], I = xs[1], H = args.hidden_size(w_hh_obj);
  py::array x = args.input("x", x_obj, {B, I});
  py::array h = args.input("h", h_obj, {B, H});
  py::array c = args.input("c", c_obj, {B, H});
  py::array w_ih = args.input("w_ih", w_ih_obj, {4 * H, I});
  py::array w_hh = args.input("w_hh", w_hh_obj, {4 * H, H});
  py::array b_ih = args.optional_input("b_ih", b_ih_obj, {4 * H});
  py::array b_hh = args.optional_input("b_hh", b_hh_obj, {4 * H});
  py::array h_new = args.output("h_new", h_new_obj, {B, H});
  py::array c_new = args.output("c_new", c_new_obj, {B, H});
  py::array gates = args.optional_output("gates", gates_obj, {B, 4 * H});
  args.require_disjoint_outputs();

  const LstmParams p{B, I, H, 1};
  py::gil_scoped_release release;
  lstm_cell_forward(p, f32_data(x), f32_data(h), f32_data(c), f32_data(w_ih), f32_data(w_hh),
                    f32_data(b_ih), f32_data(b_hh), f32_mutable_data(h_new),
                    f32_mutable_data(c_new), f32_mutable_data(gates));
}

std::unique_ptr<LstmPackedWeights> lstm_pack_weights_binding(py::handle w_ih_obj, py::handle w_hh_obj) {
  LstmArgs args("lstm_pack_weights");
  const index_t H = args.hidden_size(w_hh_obj);
  py::array w_ih = float32_array("lstm_pack_weights", "w_ih", w_ih_obj);
  require_ndim("lstm_pack_weights", "w_ih", w_ih, {2});
  w_ih = args.input("w_ih", w_ih_obj, {4 * H, w_ih.shape(1)});
  const index_t I = w_ih.shape(1);
  py::array w_hh = args.input("w_hh", w_hh_obj, {4 * H, H});
  const LstmParams p{0, I, H, 1};
  py::gil_scoped_release release;
  return std::make_unique<LstmPackedWeights>(p, f32_data(w_ih), f32_data(w_hh));
}

void lstm_cell_forward_packed_binding(py::handle x_obj, py::handle h_obj, py::handle c_obj,
                                      const LstmPackedWeights& w, py::handle b_ih_obj,
                                      py::handle b_hh_obj, py::handle h_new_obj,
                                      py::handle c_new_obj, py::handle gates_obj) {
  LstmArgs args("lstm_cell_forward");
  const std::vector<index_t> xs = args.x_shape(x_obj, 2);
  const index_t B = xs[0], I = w.input_size(), H = w.hidden_size();
  py::array x = args.input("x", x_obj, {B, I});
  py::array h = args.input("h", h_obj, {B, H});
  py::array c = args.input("c", c_obj, {B, H});
  py::array b_ih = args.optional_input("b_ih", b_ih_obj, {4 * H});
  py::array b_hh = args.optional_input("b_hh", b_hh_obj, {4 * H});
  py::array h_new = args.output("h_new", h_new_obj, {B, H});
  py::array c_new = args.output("c_new", c_new_obj, {B, H});
  py::array gates = args.optional_output("gates", gates_obj, {B, 4 * H});
  args.require_disjoint_outputs();

  const LstmParams p{B, I, H, 1};
  py::gil_scoped_release release;
  lstm_cell_forward(p, w, f32_data(x), f32_data(h), f32_data(c), f32_data(b_ih), f32_data(b_hh),
                    f32_mutable_data(h_new), f32_mutable_data(c_new), f32_mutable_data(gates));
}

void lstm_cell_backward_binding(py::handle x_obj, py::handle h_obj, py::handle c_obj,
                                py::handle w_ih_obj, py::handle w_hh_obj, py::handle gates_obj,
                                py::handle c_new_obj, py::handle dh_new_obj,
                                py::handle dc_new_obj, py::handle dx_obj, py::handle dh_obj,
                                py::handle dc_obj, py::handle dw_ih_obj, py::handle dw_hh_obj,
                                py::handle db_obj) {
  LstmArgs args("lstm_cell_backward");
  const std::vector<index_t> xs = args.x_shape(x_obj, 2);
  const index_t B = xs[0], I = xs[1], H = args.hidden_size(w_hh_obj);
  py::array x = args.input("x", x_obj, {B, I});
  py::array h = args.input("h", h_obj, {B, H});
  py::array c = args.input("c", c_obj, {B, H});
  py::array w_ih = args.input("w_ih", w_ih_obj, {4 * H, I});
  py::array w_hh = args.input("w_hh", w_hh_obj, {4 * H, H});
  py::array gates = args.input("gates", gates_obj, {B, 4 * H});
  py::array c_new = args.input("c_new", c_new_obj, {B, H});
  py::array dh_new = args.input("dh_new", dh_new_obj, {B, H});
  py::array dc_new = args.optional_input("dc_new", dc_new_obj, {B, H});
  py::array dx = args.optional_output("dx", dx_obj, {B, I});
  py::array dh = args.optional_output("dh", dh_obj, {B, H});
  py::array dc = args.optional_output("dc", dc_obj, {B, H});
  py::array dw_ih = args.optional_output("dw_ih", dw_ih_obj, {4 * H, I});
  py::array dw_hh = args.optional_output("dw_hh", dw_hh_obj, {4 * H, H});
  py::array db = args.optional_output("db", db_obj, {4 * H});
  args.require_disjoint_outputs();

  const LstmParams p{B, I, H, 1};
  py::gil_scoped_release release;
  lstm_cell_backward(p, f32_data(x), f32_data(h), f32_data(c), f32_data(w_ih), f32_data(w_hh),
                     f32_data(gates), f32_data(c_new), f32_data(dh_new), f32_data(dc_new),
                     f32_mutable_data(dx), f32_mutable_data(dh), f32_mutable_data(dc),
                     f32_mutable_data(dw_ih), f32_mutable_data(dw_hh), f32_mutable_data(db));
}

void lstm_sequence_forward_binding(py::handle x_obj, py::handle h0_obj, py::handle c0_obj,
                                   py::handle w_ih_obj, py::handle w_hh_obj, py::handle b_ih_obj,
                                   py::handle b_hh_obj, py::handle y_obj, py::handle h_n_obj,
                                   py::handle c_n_obj, py::handle gates_obj,
                                   py::handle cells_obj) {
  LstmArgs args("lstm_sequence_forward");
  const std::vector<index_t> xs = args.x_shape(x_obj, 3);
  const index_t T = xs[0], B = xs[1], I = xs[2], H = args.hidden_size(w_hh_obj);
  py::array x = args.input("x", x_obj, {T, B, I});
  py::array h0 = args.optional_input("h0", h0_obj, {B, H});
  py::array c0 = args.optional_input("c0", c0_obj, {B, H});
  py::array w_ih = args.input("w_ih", w_ih_obj, {4 * H, I});
  py::array w_hh = args.input("w_hh", w_hh_obj, {4 * H, H});
  py::array b_ih = args.optional_input("b_ih", b_ih_obj, {4 * H});
  py::array b_hh = args.optional_input("b_hh", b_hh_obj, {4 * H});
  py::array y = args.output("y", y_obj, {T, B, H});
  py::array h_n = args.output("h_n", h_n_obj, {B, H});
  py::array c_n = args.output("c_n", c_n_obj, {B, H});
  py::array gates = args.optional_output("gates", gates_obj, {T, B, 4 * H});
  py::array cells = args.optional_output("cells", cells_obj, {T, B, H});
  args.require_disjoint_outputs();

  const LstmParams p{B, I, H, T};
  py::gil_scoped_release release;
  lstm_sequence_forward(p, f32_data(x), f32_data(h0), f32_data(c0), f32_data(w_ih),
                        f32_data(w_hh), f32_data(b_ih), f32_data(b_hh), f32_mutable_data(y),
                        f32_mutable_data(h_n), f32_mutable_data(c_n), f32_mutable_data(gates),
                        f32_mutable_data(cells));
}

void lstm_sequence_backward_binding(py::handle x_obj, py::handle h0_obj, py::handle c0_obj,
                                    py::handle w_ih_obj, py::handle w_hh_obj, py::handle y_obj,
                                    py::handle gates_obj, py::handle cells_obj, py::handle dy_obj,
                                    py::handle dh_n_obj, py::handle dc_n_obj, py::handle dx_obj,
                                    py::handle dh0_obj, py::handle dc0_obj, py::handle dw_ih_obj,
                                    py::handle dw_hh_obj, py::handle db_obj) {
  LstmArgs args("lstm_sequence_backward");
  const std::vector<index_t> xs = args.x_shape(x_obj, 3);
  const index_t T = xs[0], B = xs[1], I = xs[2], H = args.hidden_size(w_hh_obj);
  py::array x = args.input("x", x_obj, {T, B, I});
  py::array h0 = args.optional_input("h0", h0_obj, {B, H});
  py::array c0 = args.optional_input("c0", c0_obj, {B, H});
  py::array w_ih = args.input("w_ih", w_ih_obj, {4 * H, I});
  py::array w_hh = args.input("w_hh", w_hh_obj, {4 * H, H});
  py::array y = args.input("y", y_obj, {T, B, H});
  py::array gates = args.input("gates", gates_obj, {T, B, 4 * H});
  py::array cells = args.input("cells", cells_obj, {T, B, H});
  py::array dy = args.optional_input("dy", dy_obj, {T, B, H});
  py::array dh_n = args.optional_input("dh_n", dh_n_obj, {B, H});
  py::array dc_n = args.optional_input("dc_n", dc_n_obj, {B, H});
  py::array dx = args.optional_output("dx", dx_obj, {T, B, I});
  py::array dh0 = args.optional_output("dh0", dh0_obj, {B, H});
  py::array dc0 = args.optional_output("dc0", dc0_obj, {B, H});
  py::array dw_ih = args.optional_output("dw_ih", dw_ih_obj, {4 * H, I});
  py::array dw_hh = args.optional_output("dw_hh", dw_hh_obj, {4 * H, H});
  py::array db = args.optional_output("db", db_obj, {4 * H});
  args.require_disjoint_outputs();

  const LstmParams p{B, I, H, T};
  py::gil_scoped_release release;
  lstm_sequence_backward(p, f32_data(x), f32_data(h0), f32_data(c0), f32_data(w_ih),
                         f32_data(w_hh), f32_data(y), f32_data(gates), f32_data(cells),
                         f32_data(dy), f32_data(dh_n), f32_data(dc_n), f32_mutable_data(dx),
                         f32_mutable_data(dh0), f32_mutable_data(dc0), f32_mutable_data(dw_ih),
                         f32_mutable_data(dw_hh), f32_mutable_data(db));
}

}  // namespace

void bind_lstm(py::module_& m) {
  m.def("lstm_cell_forward", &lstm_cell_forward_binding, py::arg("x"), py::arg("h"), py::arg("c"),
        py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"), py::arg("b_hh"), py::arg("h_new"),
        py::arg("c_new"), py::arg("gates"),
        "One LSTM cell step (torch.nn.LSTMCell), outputs written in place.\n"
        "x: (B, I); h, c: (B, H); w_ih: (4H, I); w_hh: (4H, H); b_ih, b_hh: (4H,) or None;\n"
        "h_new, c_new: (B, H); gates: (B, 4H) activated i, f, g, o, or None.");
  py::class_<LstmPackedWeights>(m, "LstmPackedWeights",
                                "An LSTM cell's weights packed for its fused GEMM (lstm_pack_weights).")
      .def_property_readonly("input_size", &LstmPackedWeights::input_size)
      .def_property_readonly("hidden_size", &LstmPackedWeights::hidden_size);
  m.def("lstm_pack_weights", &lstm_pack_weights_binding, py::arg("w_ih"), py::arg("w_hh"),
        "w_ih (4H, I) and w_hh (4H, H) packed once for lstm_cell_forward_packed: a copy,\n"
        "independent of the arrays afterwards.");
  m.def("lstm_cell_forward_packed", &lstm_cell_forward_packed_binding, py::arg("x"), py::arg("h"),
        py::arg("c"), py::arg("packed"), py::arg("b_ih"), py::arg("b_hh"), py::arg("h_new"),
        py::arg("c_new"), py::arg("gates"),
        "lstm_cell_forward with the weights given packed (lstm_pack_weights).");
  m.def("lstm_cell_backward", &lstm_cell_backward_binding, py::arg("x"), py::arg("h"),
        py::arg("c"), py::arg("w_ih"), py::arg("w_hh"), py::arg("gates"), py::arg("c_new"),
        py::arg("dh_new"), py::arg("dc_new"), py::arg("dx"), py::arg("dh"), py::arg("dc"),
        py::arg("dw_ih"), py::arg("dw_hh"), py::arg("db"),
        "Gradients of one LSTM cell step, each output (None: skipped) overwritten.\n"
        "dh_new, dc_new (or None): (B, H); dx: (B, I); dh, dc: (B, H); dw_ih: (4H, I);\n"
        "dw_hh: (4H, H); db: (4H,), the gradient of b_ih and of b_hh.");
  m.def("lstm_sequence_forward", &lstm_sequence_forward_binding, py::arg("x"), py::arg("h0"),
        py::arg("c0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"), py::arg("b_hh"),
        py::arg("y"), py::arg("h_n"), py::arg("c_n"), py::arg("gates"), py::arg("cells"),
        "A single-layer LSTM over a sequence (torch.nn.LSTM), outputs written in place.\n"
        "x: (T, B, I); h0, c0: (B, H) or None (zeros); y: (T, B, H); h_n, c_n: (B, H);\n"
        "gates: (T, B, 4H) or None; cells: (T, B, H) every c_t, or None.");
  m.def("lstm_sequence_backward", &lstm_sequence_backward_binding, py::arg("x"), py::arg("h0"),
        py::arg("c0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("y"), py::arg("gates"),
        py::arg("cells"), py::arg("dy"), py::arg("dh_n"), py::arg("dc_n"), py::arg("dx"),
        py::arg("dh0"), py::arg("dc0"), py::arg("dw_ih"), py::arg("dw_hh"), py::arg("db"),
        "Backward through time of lstm_sequence_forward, each output (None: skipped) overwritten.\n"
        "dy: (T, B, H), dh_n, dc_n: (B, H), each or None; dx: (T, B, I); dh0, dc0: (B, H);\n"
        "dw_ih: (4H, I); dw_hh: (4H, H); db: (4H,).");
}

}  // namespace kiln::bind
