// kiln: the GRU cell and a single-layer GRU over a sequence, forward and backward.
//
// Semantics of torch.nn.GRUCell / torch.nn.GRU (one layer, sequence first), gates r, z, n:
//
//   xg = x @ W_ih^T + b_ih,  hg = h @ W_hh^T + b_hh                  (B, 3H) each
//   r = sigmoid(xg_r + hg_r);  z = sigmoid(xg_z + hg_z);  n = tanh(xg_n + r * hg_n)
//   h' = (1 - z) * n + z * h
//
// Sizes: B = batch, I = input_size, H = hidden_size, T = seq_len (the cell kernels ignore
// seq_len). W_ih is (3H, I), W_hh is (3H, H), b_ih and b_hh are (3H,) or null. Every array
// is dense, row-major, float32; outputs share no memory with inputs or with each other.
// Requested outputs are overwritten, never accumulated into. "gates" (B, 4H) per step
// holds what backward needs: the activated r, z, n and hn = hg_n (h @ W_hn^T + b_hn).
#pragma once

#include "kiln/common.hpp"

namespace kiln {

struct GruParams {
  index_t batch = 0, input_size = 0, hidden_size = 0, seq_len = 1;
};

// x (B, I), h (B, H) -> h_new (B, H), gates (B, 4H) or null.
void gru_cell_forward(const GruParams& p, const float* x, const float* h, const float* w_ih,
                      const float* w_hh, const float* b_ih, const float* b_hh, float* h_new,
                      float* gates);

// Gradients of one cell step from its inputs x, h, its gates (B, 4H) and the upstream dh_new
// (B, H). Each output is optional: dx (B, I), dh (B, H), dw_ih (3H, I), dw_hh (3H, H),
// db_ih (3H,), db_hh (3H,).
void gru_cell_backward(const GruParams& p, const float* x, const float* h, const float* w_ih,
                       const float* w_hh, const float* gates, const float* dh_new, float* dx,
                       float* dh, float* dw_ih, float* dw_hh, float* db_ih, float* db_hh);

// x (T, B, I), h0 (B, H) or null (zeros) -> y (T, B, H) holding every h_t, h_n (B, H) or
// null, gates (T, B, 4H) or null. With T == 0, h_n = h0.
void gru_sequence_forward(const GruParams& p, const float* x, const float* h0, const float* w_ih,
                          const float* w_hh, const float* b_ih, const float* b_hh, float* y,
                          float* h_n, float* gates);

// Backward through time from the forward's x, h0 (null: zeros), y and gates, and the
// upstream dy (T, B, H) and dh_n (B, H), each null for zero. Each output is optional:
// dx (T, B, I), dh0 (B, H), dw_ih (3H, I), dw_hh (3H, H), db_ih (3H,), db_hh (3H,).
void gru_sequence_backward(const GruParams& p, const float* x, const float* h0, const float* w_ih,
                           const float* w_hh, const float* y, const float* gates, const float* dy,
                           const float* dh_n, float* dx, float* dh0, float* dw_ih, float* dw_hh,
                           float* db_ih, float* db_hh);

}  // namespace kiln
