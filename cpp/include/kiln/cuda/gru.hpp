// kiln CUDA: the GRU cell and a single-layer GRU over a sequence, forward and backward, on
// the device.
//
// kiln/gru.hpp's semantics, sizes and layouts (torch.nn.GRUCell / torch.nn.GRU, gates r, z,
// n; per step (B, 4H) saved gates r, z, n, hn), on device pointers, asynchronous on `stream`.
// Differences, all about memory the host API allocates itself:
//   - `gates` is required (the input projection's GEMM writes there and the gate kernel
//     turns it into the saved gates in place);
//   - every kernel takes a device `workspace` of at least gru_*_workspace(p) floats (the
//     recurrent projection of a step, the backward's gradient buffers, and what a GEMM too
//     small to fill the device needs to split its reduction); sizes depend on the current
//     device's multiprocessor count.
// Structure (as the LSTM's, kiln/cuda/lstm.hpp): a sequence projects the inputs of all T
// steps in one GEMM (b_ih fused), then per step one recurrent GEMM (b_hh fused) and one
// fused gate kernel. Backward: per step one fused gate-gradient kernel and one GEMM carrying
// dh back (beta = 1 onto dh z); then dx, dW_ih, dW_hh as whole-sequence GEMMs and the bias
// gradients as column reductions. A cell is a sequence of one step.
// Throws std::invalid_argument for bad parameters (before launching), std::runtime_error
// naming the kernel and the sizes when a launch fails.
#pragma once

#include "kiln/common.hpp"
#include "kiln/cuda/runtime.hpp"
#include "kiln/gru.hpp"

namespace kiln::cuda {

// x (B, I), h (B, H) -> h_new (B, H), gates (B, 4H).
void gru_cell_forward(const GruParams& p, const float* x, const float* h, const float* w_ih,
                      const float* w_hh, const float* b_ih, const float* b_hh, float* h_new,
                      float* gates, float* workspace, cudaStream_t stream = 0);

void gru_cell_backward(const GruParams& p, const float* x, const float* h, const float* w_ih,
                       const float* w_hh, const float* gates, const float* dh_new, float* dx,
                       float* dh, float* dw_ih, float* dw_hh, float* db_ih, float* db_hh,
                       float* workspace, cudaStream_t stream = 0);

// x (T, B, I), h0 (B, H) or null -> y (T, B, H), h_n (B, H) or null, gates (T, B, 4H).
void gru_sequence_forward(const GruParams& p, const float* x, const float* h0, const float* w_ih,
                          const float* w_hh, const float* b_ih, const float* b_hh, float* y,
                          float* h_n, float* gates, float* workspace, cudaStream_t stream = 0);

void gru_sequence_backward(const GruParams& p, const float* x, const float* h0, const float* w_ih,
                           const float* w_hh, const float* y, const float* gates, const float* dy,
                           const float* dh_n, float* dx, float* dh0, float* dw_ih, float* dw_hh,
                           float* db_ih, float* db_hh, float* workspace, cudaStream_t stream = 0);

// B * 3H, plus the GEMMs' split-k partial sums (the cell's: seq_len taken as 1).
index_t gru_sequence_forward_workspace(const GruParams& p);
// 2 * T * B * 3H + B * H, plus the weight gradients' split-k partial sums.
index_t gru_sequence_backward_workspace(const GruParams& p);

}  // namespace kiln::cuda
