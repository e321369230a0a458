// kiln._C: the GRU cell and sequence kernels (kiln/gru.hpp), outputs written in place.
#include <vector>

#include "arrays.hpp"
#include "bindings.hpp"
#include "kiln/gru.hpp"
#include "recurrent_args.hpp"

namespace kiln::bind {
namespace {

void gru_cell_forward_binding(py::handle x_obj, py::handle h_obj, py::handle w_ih_obj, py::handle w_hh_obj,
                              py::handle b_ih_obj, py::handle b_hh_obj, py::handle h_new_obj,
                              py::handle gates_obj) {
  RecurrentArgs args("gru_cell_forward");
  const std::vector<index_t> xs = args.x_shape(x_obj, 2);
  const index_t B = xs[0], I = xs[1], H = args.hidden_size(w_hh_obj);
  py::array x = args.input("x", x_obj, {B, I});
  py::array h = args.input("h", h_obj, {B, H});
  py::array w_ih = args.input("w_ih", w_ih_obj, {3 * H, I});
  py::array w_hh = args.input("w_hh", w_hh_obj, {3 * H, H});
  py::array b_ih = args.optional_input("b_ih", b_ih_obj, {3 * H});
  py::array b_hh = args.optional_input("b_hh", b_hh_obj, {3 * H});
  py::array h_new = args.output("h_new", h_new_obj, {B, H});
  py::array gates = args.optional_output("gates", gates_obj, {B, 4 * H});
  args.require_disjoint_outputs();
  const GruParams p{B, I, H, 1};
  py::gil_scoped_release release;
  gru_cell_forward(p, f32_data(x), f32_data(h), f32_data(w_ih), f32_data(w_hh), f32_data(b_ih), f32_data(b_hh),
                   f32_mutable_data(h_new), f32_mutable_data(gates));
}

void gru_cell_backward_binding(py::handle x_obj, py::handle h_obj, py::handle w_ih_obj, py::handle w_hh_obj,
                               py::handle gates_obj, py::handle dh_new_obj, py::handle dx_obj,
                               py::handle dh_obj, py::handle dw_ih_obj, py::handle dw_hh_obj,
                               py::handle db_ih_obj, py::handle db_hh_obj) {
  RecurrentArgs args("gru_cell_backward");
  const std::vector<index_t> xs = args.x_shape(x_obj, 2);
  const index_t B = xs[0], I = xs[1], H = args.hidden_size(w_hh_obj);
  py::array x = args.input("x", x_obj, {B, I});
  py::array h = args.input("h", h_obj, {B, H});
  py::array w_ih = args.input("w_ih", w_ih_obj, {3 * H, I});
  py::array w_hh = args.input("w_hh", w_hh_obj, {3 * H, H});
  py::array gates = args.input("gates", gates_obj, {B, 4 * H});
  py::array dh_new = args.input("dh_new", dh_new_obj, {B, H});
  py::array dx = args.optional_output("dx", dx_obj, {B, I});
  py::array dh = args.optional_output("dh", dh_obj, {B, H});
  py::array dw_ih = args.optional_output("dw_ih", dw_ih_obj, {3 * H, I});
  py::array dw_hh = args.optional_output("dw_hh", dw_hh_obj, {3 * H, H});
  py::array db_ih = args.optional_output("db_ih", db_ih_obj, {3 * H});
  py::array db_hh = args.optional_output("db_hh", db_hh_obj, {3 * H});
  args.require_disjoint_outputs();
  const GruParams p{B, I, H, 1};
  py::gil_scoped_release release;
  gru_cell_backward(p, f32_data(x), f32_data(h), f32_data(w_ih), f32_data(w_hh), f32_data(gates),
                    f32_data(dh_new), f32_mutable_data(dx), f32_mutable_data(dh), f32_mutable_data(dw_ih),
                    f32_mutable_data(dw_hh), f32_mutable_data(db_ih), f32_mutable_data(db_hh));
}

void gru_sequence_forward_binding(py::handle x_obj, py::handle h0_obj, py::handle w_ih_obj, py::handle w_hh_obj,
                                  py::handle b_ih_obj, py::handle b_hh_obj, py::handle y_obj,
                                  py::handle h_n_obj, py::handle gates_obj) {
  RecurrentArgs args("gru_sequence_forward");
  const std::vector<index_t> xs = args.x_shape(x_obj, 3);
  const index_t T = xs[0], B = xs[1], I = xs[2], H = args.hidden_size(w_hh_obj);
  py::array x = args.input("x", x_obj, {T, B, I});
  py::array h0 = args.optional_input("h0", h0_obj, {B, H});
  py::array w_ih = args.input("w_ih", w_ih_obj, {3 * H, I});
  py::array w_hh = args.input("w_hh", w_hh_obj, {3 * H, H});
  py::array b_ih = args.optional_input("b_ih", b_ih_obj, {3 * H});
  py::array b_hh = args.optional_input("b_hh", b_hh_obj, {3 * H});
  py::array y = args.output("y", y_obj, {T, B, H});
  py::array h_n = args.optional_output("h_n", h_n_obj, {B, H});
  py::array gates = args.optional_output("gates", gates_obj, {T, B, 4 * H});
  args.require_disjoint_outputs();
  const GruParams p{B, I, H, T};
  py::gil_scoped_release release;
  gru_sequence_forward(p, f32_data(x), f32_data(h0), f32_data(w_ih), f32_data(w_hh), f32_data(b_ih),
                       f32_data(b_hh), f32_mutable_data(y), f32_mutable_data(h_n), f32_mutable_data(gates));
}

void gru_sequence_backward_binding(py::handle x_obj, py::handle h0_obj, py::handle w_ih_obj,
                                   py::handle w_hh_obj, py::handle y_obj, py::handle gates_obj,
                                   py::handle dy_obj, py::handle dh_n_obj, py::handle dx_obj,
                                   py::handle dh0_obj, py::handle dw_ih_obj, py::handle dw_hh_obj,
                                   py::handle db_ih_obj, py::handle db_hh_obj) {
  RecurrentArgs args("gru_sequence_backward");
  const std::vector<index_t> xs = args.x_shape(x_obj, 3);
  const index_t T = xs[0], B = xs[1], I = xs[2], H = args.hidden_size(w_hh_obj);
  py::array x = args.input("x", x_obj, {T, B, I});
  py::array h0 = args.optional_input("h0", h0_obj, {B, H});
  py::array w_ih = args.input("w_ih", w_ih_obj, {3 * H, I});
  py::array w_hh = args.input("w_hh", w_hh_obj, {3 * H, H});
  py::array y = args.input("y", y_obj, {T, B, H});
  py::array gates = args.input("gates", gates_obj, {T, B, 4 * H});
  py::array dy = args.optional_input("dy", dy_obj, {T, B, H});
  py::array dh_n = args.optional_input("dh_n", dh_n_obj, {B, H});
  py::array dx = args.optional_output("dx", dx_obj, {T, B, I});
  py::array dh0 = args.optional_output("dh0", dh0_obj, {B, H});
  py::array dw_ih = args.optional_output("dw_ih", dw_ih_obj, {3 * H, I});
  py::array dw_hh = args.optional_output("dw_hh", dw_hh_obj, {3 * H, H});
  py::array db_ih = args.optional_output("db_ih", db_ih_obj, {3 * H});
  py::array db_hh = args.optional_output("db_hh", db_hh_obj, {3 * H});
  args.require_disjoint_outputs();
  const GruParams p{B, I, H, T};
  py::gil_scoped_release release;
  gru_sequence_backward(p, f32_data(x), f32_data(h0), f32_data(w_ih), f32_data(w_hh), f32_data(y),
                        f32_data(gates), f32_data(dy), f32_data(dh_n), f32_mutable_data(dx),
                        f32_mutable_data(dh0), f32_mutable_data(dw_ih), f32_mutable_data(dw_hh),
                        f32_mutable_data(db_ih), f32_mutable_data(db_hh));
}

}  // namespace

void bind_gru(py::module_& m) {
  m.def("gru_cell_forward", &gru_cell_forward_binding, py::arg("x"), py::arg("h"), py::arg("w_ih"),
        py::arg("w_hh"), py::arg("b_ih"), py::arg("b_hh"), py::arg("h_new"), py::arg("gates"),
        "One GRU cell step (torch.nn.GRUCell), outputs written in place.\n"
        "x: (B, I); h: (B, H); w_ih: (3H, I); w_hh: (3H, H); b_ih, b_hh: (3H,) or None;\n"
        "h_new: (B, H); gates: (B, 4H) r, z, n, hn, or None.");
  m.def("gru_cell_backward", &gru_cell_backward_binding, py::arg("x"), py::arg("h"), py::arg("w_ih"),
        py::arg("w_hh"), py::arg("gates"), py::arg("dh_new"), py::arg("dx"), py::arg("dh"), py::arg("dw_ih"),
        py::arg("dw_hh"), py::arg("db_ih"), py::arg("db_hh"),
        "Gradients of one GRU cell step, each output (None: skipped) overwritten.\n"
        "dh_new: (B, H); dx: (B, I); dh: (B, H); dw_ih: (3H, I); dw_hh: (3H, H); db_ih, db_hh: (3H,).");
  m.def("gru_sequence_forward", &gru_sequence_forward_binding, py::arg("x"), py::arg("h0"), py::arg("w_ih"),
        py::arg("w_hh"), py::arg("b_ih"), py::arg("b_hh"), py::arg("y"), py::arg("h_n"), py::arg("gates"),
        "A single-layer GRU over a sequence (torch.nn.GRU), outputs written in place.\n"
        "x: (T, B, I); h0: (B, H) or None (zeros); y: (T, B, H); h_n: (B, H) or None;\n"
        "gates: (T, B, 4H) or None.");
  m.def("gru_sequence_backward", &gru_sequence_backward_binding, py::arg("x"), py::arg("h0"), py::arg("w_ih"),
        py::arg("w_hh"), py::arg("y"), py::arg("gates"), py::arg("dy"), py::arg("dh_n"), py::arg("dx"),
        py::arg("dh0"), py::arg("dw_ih"), py::arg("dw_hh"), py::arg("db_ih"), py::arg("db_hh"),
        "Backward through time of gru_sequence_forward, each output (None: skipped) overwritten.\n"
        "dy: (T, B, H), dh_n: (B, H), each or None; dx: (T, B, I); dh0: (B, H);\n"
        "dw_ih: (3H, I); dw_hh: (3H, H); db_ih, db_hh: (3H,).");
}

}  // namespace kiln::bind
