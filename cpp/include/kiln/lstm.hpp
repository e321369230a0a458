// kiln: the LSTM cell and a single-layer LSTM over a sequence, forward and backward.
//
// Semantics of torch.nn.LSTMCell / torch.nn.LSTM (one layer, sequence first):
//
//   pre   = x @ W_ih^T + b_ih + h @ W_hh^T + b_hh          (B, 4H), chunks i, f, g, o
//   i, f, o = sigmoid(pre_i, pre_f, pre_o);  g = tanh(pre_g)
//   c' = f * c + i * g;   h' = o * tanh(c')
//
// Sizes: B = batch, I = input_size, H = hidden_size, T = seq_len (the cell kernels
// ignore seq_len). W_ih is (4H, I), W_hh is (4H, H), b_ih and b_hh are (4H,) or null.
// Every array is dense, row-major, float32; outputs share no memory with inputs or
// with each other. Requested outputs are overwritten, never accumulated into.
// "gates" always means the activated i, f, g, o (B, 4H) that backward needs.
#pragma once

#include <memory>

#include "kiln/common.hpp"

namespace kiln {

namespace detail {
class PackedB;
}

struct LstmParams {
  index_t batch = 0, input_size = 0, hidden_size = 0, seq_len = 1;
};

// x (B, I), h (B, H), c (B, H) -> h_new (B, H), c_new (B, H), gates (B, 4H) or null.
// Packs the weights for its GEMM on every call; LstmPackedWeights packs them once.
void lstm_cell_forward(const LstmParams& p, const float* x, const float* h, const float* c,
                       const float* w_ih, const float* w_hh, const float* b_ih, const float* b_hh,
                       float* h_new, float* c_new, float* gates);

// W_ih and W_hh copied once into the panels the cell's fused GEMM reads ([x h] against
// [W_ih W_hh]^T, the four gates of every 16 units side by side), for many steps with the
// same weights: about 4H * (I + H) floats, independent of the weights afterwards (a caller
// that changes them makes a new one; nn.functional.lstm_cell keeps one per weight version).
class LstmPackedWeights {
 public:
  // p.batch and p.seq_len are ignored.
  LstmPackedWeights(const LstmParams& p, const float* w_ih, const float* w_hh);
  ~LstmPackedWeights();
  LstmPackedWeights(const LstmPackedWeights&) = delete;
  LstmPackedWeights& operator=(const LstmPackedWeights&) = delete;
  index_t input_size() const { return input_size_; }
  index_t hidden_size() const { return hidden_size_; }
  const detail::PackedB& panels() const { return *panels_; }

 private:
  index_t input_size_, hidden_size_;
  std::unique_ptr<detail::PackedB> panels_;
};

// lstm_cell_forward with the weights packed: p's input and hidden sizes must be w's.
void lstm_cell_forward(const LstmParams& p, const LstmPackedWeights& w, const float* x,
                       const float* h, const float* c, const float* b_ih, const float* b_hh,
                       float* h_new, float* c_new, float* gates);

// Gradients of one cell step, from its inputs x, h, c, its gates (B, 4H) and c_new (B, H),
// and the upstream dh_new (B, H) and dc_new (B, H) (null: zero). Each output is optional:
// dx (B, I), dh (B, H), dc (B, H), dw_ih (4H, I), dw_hh (4H, H), db (4H,), where db is the
// gradient of b_ih, equal to that of b_hh.
void lstm_cell_backward(const LstmParams& p, const float* x, const float* h, const float* c,
                        const float* w_ih, const float* w_hh, const float* gates,
                        const float* c_new, const float* dh_new, const float* dc_new, float* dx,
                        float* dh, float* dc, float* dw_ih, float* dw_hh, float* db);

// x (T, B, I), h0 and c0 (B, H) or null (zeros) -> y (T, B, H) holding every h_t,
// h_n and c_n (B, H), and optionally gates (T, B, 4H) and cells (T, B, H) holding
// every c_t, both kept for backward. With T == 0, h_n = h0 and c_n = c0.
void lstm_sequence_forward(const LstmParams& p, const float* x, const float* h0, const float* c0,
                           const float* w_ih, const float* w_hh, const float* b_ih,
                           const float* b_hh, float* y, float* h_n, float* c_n, float* gates,
                           float* cells);

// Backward through time from the forward's x, h0, c0 (null: zeros), y, gates and cells,
// and the upstream dy (T, B, H), dh_n and dc_n (B, H), each null for zero. Each output
// is optional: dx (T, B, I), dh0 (B, H), dc0 (B, H), dw_ih (4H, I), dw_hh (4H, H), db (4H,).
void lstm_sequence_backward(const LstmParams& p, const float* x, const float* h0, const float* c0,
                            const float* w_ih, const float* w_hh, const float* y,
                            const float* gates, const float* cells, const float* dy,
                            const float* dh_n, const float* dc_n, float* dx, float* dh0,
                            float* dc0, float* dw_ih, float* dw_hh, float* db);

}  // namespace kiln
