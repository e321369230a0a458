// The tape nodes of the LSTM: a whole single-layer sequence (3 outputs: y, h_n, c_n) and one
// cell step (2 outputs: h', c'). Each output's gradient arrives in one call, so the kernel's
// backward (through time, for the sequence) runs once with all of them.
//
// The bias gradient db is that of b_ih and of b_hh alike; both edges get the same array
// object. The walker never adds into a gradient in place and a leaf always copies it, so
// sharing it is safe, and it saves a copy of (4H,).
#include <cstring>

#include "arrays.hpp"
#include "kiln/lstm.hpp"
#include "node_args.hpp"
#include "nodes.hpp"

namespace kiln::nodes {
namespace {

// A gradient for an output of shape `shape`, or a null array when none arrived.
py::array optional_grad(const char* fn, const py::object& g, const std::vector<index_t>& shape) {
  if (!g) return null_array();
  py::array a = grad_f32(fn, g);
  require_shape(fn, "the gradient", a, shape);
  return a;
}

// hidden_size from w_hh (4H, H), and the checks every LSTM node makes of its weights.
index_t hidden_size(const char* fn, const py::array& w_ih, const py::array& w_hh, index_t inputs) {
  bind::require_ndim(fn, "w_hh", w_hh, {2});
  const index_t H = w_hh.shape(1);
  require_shape(fn, "w_hh", w_hh, {4 * H, H});
  require_shape(fn, "w_ih", w_ih, {4 * H, inputs});
  return H;
}

// edges (x, w_ih, w_hh, b_ih, b_hh, h0, c0); outputs (y, h_n, c_n).
class LstmSequenceNode final : public Node {
 public:
  LstmSequenceNode(std::vector<Edge> edges, std::vector<py::array> saved, const LstmParams& p)
      : Node(std::move(edges), 3), saved_(std::move(saved)), p_(p) {}

 private:
  enum { X, W_IH, W_HH, H0, C0, Y, GATES, CELLS };

  std::vector<py::object> backward(std::vector<py::object>& grads) override {
    constexpr const char* fn = "LstmSequenceNode";
    const std::vector<py::array> saved = saved_;  // ours while the GIL is released (see LinearNode),
    bool want[7];      // and what to compute, read before anything can run Python
    for (int k = 0; k < 7; ++k) want[k] = static_cast<bool>(edges[static_cast<std::size_t>(k)]);
    const index_t T = p_.seq_len, B = p_.batch, I = p_.input_size, H = p_.hidden_size;
    py::array dy = optional_grad(fn, grads[0], {T, B, H});
    py::array dh_n = optional_grad(fn, grads[1], {B, H});
    py::array dc_n = optional_grad(fn, grads[2], {B, H});
    py::array dx = new_f32_if(want[0], {T, B, I});
    py::array dw_ih = new_f32_if(want[1], {4 * H, I});
    py::array dw_hh = new_f32_if(want[2], {4 * H, H});
    py::array db = new_f32_if(want[3] || want[4], {4 * H});
    py::array dh0 = new_f32_if(want[5], {B, H});
    py::array dc0 = new_f32_if(want[6], {B, H});
    const float* in[8];
    for (int k = 0; k < 8; ++k) in[k] = bind::f32_data(saved[static_cast<std::size_t>(k)]);
    const float *dy_ptr = bind::f32_data(dy), *dh_ptr = bind::f32_data(dh_n), *dc_ptr = bind::f32_data(dc_n);
    float* out_ptr[6] = {bind::f32_mutable_data(dx),  bind::f32_mutable_data(dh0), bind::f32_mutable_data(dc0),
                         bind::f32_mutable_data(dw_ih), bind::f32_mutable_data(dw_hh), bind::f32_mutable_data(db)};
    {
      py::gil_scoped_release release;
      lstm_sequence_backward(p_, in[X], in[H0], in[C0], in[W_IH], in[W_HH], in[Y], in[GATES], in[CELLS], dy_ptr,
                             dh_ptr, dc_ptr, out_ptr[0], out_ptr[1], out_ptr[2], out_ptr[3], out_ptr[4],
                             out_ptr[5]);
    }
    py::object db_obj = result(db);
    return {result(dx),  result(dw_ih), result(dw_hh), want[3] ? db_obj : py::object(),
            want[4] ? db_obj : py::object(), result(dh0), result(dc0)};
  }

  void release_saved() override { saved_.clear(); }

  std::vector<py::array> saved_;  // X .. CELLS; H0, C0 null for zeros
  LstmParams p_;
};

py::object lstm_sequence_node(py::handle edges_obj, py::handle x_obj, py::handle w_ih_obj, py::handle w_hh_obj,
                              py::handle h0_obj, py::handle c0_obj, py::handle y_obj, py::handle gates_obj,
                              py::handle cells_obj) {
  constexpr const char* fn = "lstm_sequence_node";
  bool h0_ok, c0_ok;
  std::vector<py::array> saved{saved_f32(x_obj),   saved_f32(w_ih_obj), saved_f32(w_hh_obj),
                               saved_optional_f32(h0_obj, &h0_ok), saved_optional_f32(c0_obj, &c0_ok),
                               saved_f32(y_obj),   saved_f32(gates_obj), saved_f32(cells_obj)};
  for (int k : {0, 1, 2, 5, 6, 7})
    if (!saved[static_cast<std::size_t>(k)]) return py::none();
  if (!h0_ok || !c0_ok) return py::none();
  std::vector<Edge> edges = node_edges(fn, edges_obj, {7});
  const py::array& x = saved[0];
  bind::require_ndim(fn, "x", x, {3});
  LstmParams p;
  p.seq_len = x.shape(0);
  p.batch = x.shape(1);
  p.input_size = x.shape(2);
  p.hidden_size = hidden_size(fn, saved[1], saved[2], p.input_size);
  const index_t T = p.seq_len, B = p.batch, H = p.hidden_size;
  if (saved[3]) require_shape(fn, "h0", saved[3], {B, H});
  if (saved[4]) require_shape(fn, "c0", saved[4], {B, H});
  require_shape(fn, "y", saved[5], {T, B, H});
  require_shape(fn, "gates", saved[6], {T, B, 4 * H});
  require_shape(fn, "cells", saved[7], {T, B, H});
  return wrap(std::make_unique<LstmSequenceNode>(std::move(edges), std::move(saved), p));
}

// edges (x, h, c, w_ih, w_hh, b_ih, b_hh); outputs (h', c').
class LstmCellNode final : public Node {
 public:
  LstmCellNode(std::vector<Edge> edges, std::vector<py::array> saved, const LstmParams& p)
      : Node(std::move(edges), 2), saved_(std::move(saved)), p_(p) {}

 private:
  enum { X, H, C, W_IH, W_HH, GATES, C_NEW };

  std::vector<py::object> backward(std::vector<py::object>& grads) override {
    constexpr const char* fn = "LstmCellNode";
    const std::vector<py::array> saved = saved_;  // ours while the GIL is released (see LinearNode),
    bool want[7];      // and what to compute, read before anything can run Python
    for (int k = 0; k < 7; ++k) want[k] = static_cast<bool>(edges[static_cast<std::size_t>(k)]);
    const index_t B = p_.batch, I = p_.input_size, Hs = p_.hidden_size;
    py::array dh_new = optional_grad(fn, grads[0], {B, Hs});
    if (!dh_new) {  // the kernel takes a null dc_new as zeros, but not a null dh_new
      dh_new = py::array_t<float>(std::vector<index_t>{B, Hs});
      std::memset(dh_new.mutable_data(), 0, static_cast<std::size_t>(dh_new.nbytes()));
    }
    py::array dc_new = optional_grad(fn, grads[1], {B, Hs});
    py::array dx = new_f32_if(want[0], {B, I});
    py::array dh = new_f32_if(want[1], {B, Hs});
    py::array dc = new_f32_if(want[2], {B, Hs});
    py::array dw_ih = new_f32_if(want[3], {4 * Hs, I});
    py::array dw_hh = new_f32_if(want[4], {4 * Hs, Hs});
    py::array db = new_f32_if(want[5] || want[6], {4 * Hs});
    const float* in[7];
    for (int k = 0; k < 7; ++k) in[k] = bind::f32_data(saved[static_cast<std::size_t>(k)]);
    const float *dh_ptr = bind::f32_data(dh_new), *dc_ptr = bind::f32_data(dc_new);
    float* out_ptr[6] = {bind::f32_mutable_data(dx),    bind::f32_mutable_data(dh),    bind::f32_mutable_data(dc),
                         bind::f32_mutable_data(dw_ih), bind::f32_mutable_data(dw_hh), bind::f32_mutable_data(db)};
    {
      py::gil_scoped_release release;
      lstm_cell_backward(p_, in[X], in[H], in[C], in[W_IH], in[W_HH], in[GATES], in[C_NEW], dh_ptr, dc_ptr,
                         out_ptr[0], out_ptr[1], out_ptr[2], out_ptr[3], out_ptr[4], out_ptr[5]);
    }
    py::object db_obj = result(db);
    return {result(dx),    result(dh), result(dc), result(dw_ih), result(dw_hh), want[5] ? db_obj : py::object(),
            want[6] ? db_obj : py::object()};
  }

  void release_saved() override { saved_.clear(); }

  std::vector<py::array> saved_;  // X .. C_NEW
  LstmParams p_;
};

py::object lstm_cell_node(py::handle edges_obj, py::handle x_obj, py::handle h_obj, py::handle c_obj,
                          py::handle w_ih_obj, py::handle w_hh_obj, py::handle gates_obj, py::handle c_new_obj) {
  constexpr const char* fn = "lstm_cell_node";
  std::vector<py::array> saved{saved_f32(x_obj),    saved_f32(h_obj),     saved_f32(c_obj),    saved_f32(w_ih_obj),
                               saved_f32(w_hh_obj), saved_f32(gates_obj), saved_f32(c_new_obj)};
  for (const py::array& a : saved)
    if (!a) return py::none();
  std::vector<Edge> edges = node_edges(fn, edges_obj, {7});
  bind::require_ndim(fn, "x", saved[0], {2});
  LstmParams p;
  p.batch = saved[0].shape(0);
  p.input_size = saved[0].shape(1);
  p.hidden_size = hidden_size(fn, saved[3], saved[4], p.input_size);
  const index_t B = p.batch, H = p.hidden_size;
  require_shape(fn, "h", saved[1], {B, H});
  require_shape(fn, "c", saved[2], {B, H});
  require_shape(fn, "gates", saved[5], {B, 4 * H});
  require_shape(fn, "c_new", saved[6], {B, H});
  return wrap(std::make_unique<LstmCellNode>(std::move(edges), std::move(saved), p));
}

}  // namespace

void bind_lstm_nodes(py::module_& m) {
  bind_node_class<LstmSequenceNode>(m, "LstmSequenceNode", "Backward of a single-layer LSTM (lstm_sequence_node).");
  bind_node_class<LstmCellNode>(m, "LstmCellNode", "Backward of one LSTM cell step (lstm_cell_node).");
  m.def("lstm_sequence_node", &lstm_sequence_node, py::arg("edges"), py::arg("x"), py::arg("w_ih"),
        py::arg("w_hh"), py::arg("h0"), py::arg("c0"), py::arg("y"), py::arg("gates"), py::arg("cells"),
        "The tape node of lstm_sequence, outputs (y, h_n, c_n): edges (x, w_ih, w_hh, b_ih, b_hh,\n"
        "h0, c0), each None where no gradient is wanted; x (T, B, I), w_ih (4H, I), w_hh (4H, H),\n"
        "h0, c0 (B, H) or None (zeros), and the forward's y (T, B, H), gates (T, B, 4H), cells\n"
        "(T, B, H). Returns (dx, dw_ih, dw_hh, db, db, dh0, dc0), the same db object for both\n"
        "biases. None when a saved array is not float32.");
  m.def("lstm_cell_node", &lstm_cell_node, py::arg("edges"), py::arg("x"), py::arg("h"), py::arg("c"),
        py::arg("w_ih"), py::arg("w_hh"), py::arg("gates"), py::arg("c_new"),
        "The tape node of lstm_cell, outputs (h', c'): edges (x, h, c, w_ih, w_hh, b_ih, b_hh);\n"
        "x (B, I), h, c (B, H), w_ih (4H, I), w_hh (4H, H), and the forward's gates (B, 4H) and\n"
        "c_new (B, H). Returns (dx, dh, dc, dw_ih, dw_hh, db, db), the same db object for both\n"
        "biases. None when a saved array is not float32.");
}

}  // namespace kiln::nodes
