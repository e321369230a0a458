// kiln CUDA: the LSTM cell and a single-layer LSTM over a sequence, forward and backward,
// on the device.
//
// kiln/lstm.hpp's semantics, sizes and layouts (torch.nn.LSTMCell / torch.nn.LSTM, gates
// i, f, g, o activated, (B, 4H) per step), on device pointers, asynchronous on `stream`.
// Differences, all about memory the host API allocates itself:
//   - `gates` is required (the forward's GEMM writes the preactivations there and the
//     gate kernel activates them in place);
//   - the backward kernels take a device `workspace` of at least
//     lstm_cell_backward_workspace(p) / lstm_sequence_backward_workspace(p) floats;
//   - the forward kernels take an optional one (*_forward_workspace(p) floats, 0 when
//     it would go unused) that lets a product too small to fill the device split its
//     reduction (a small batch against a deep [x h]).
// Workspace sizes depend on the current device's multiprocessor count.
// Structure: a cell step is one GEMM ([x h] @ [W_ih W_hh]^T + b_ih + b_hh, the two
// products as one reduction) and one fused gate kernel (nonlinearities, cell update,
// h = o tanh(c)). A sequence projects the inputs of all T steps in one GEMM up front, then
// runs one recurrent GEMM (beta = 1 into that step's gates) and one gate kernel per step.
// Backward: per step one fused gate-gradient kernel and one GEMM carrying dh back; then
// dx, dW_ih, dW_hh as whole-sequence GEMMs and db as a column reduction.
// Results agree with the CPU within float32 rounding. Throws std::invalid_argument for bad
// parameters (before launching), std::runtime_error naming the kernel and the sizes when a
// launch fails.
#pragma once

#include "kiln/common.hpp"
#include "kiln/cuda/runtime.hpp"
#include "kiln/lstm.hpp"

namespace kiln::cuda {

// x (B, I), h (B, H), c (B, H) -> h_new, c_new (B, H), gates (B, 4H).
void lstm_cell_forward(const LstmParams& p, const float* x, const float* h, const float* c,
                       const float* w_ih, const float* w_hh, const float* b_ih, const float* b_hh,
                       float* h_new, float* c_new, float* gates, cudaStream_t stream = 0,
                       float* workspace = nullptr);

index_t lstm_cell_forward_workspace(const LstmParams& p);

// B * 4H, plus what the weight gradients need to split their reduction over the batch.
index_t lstm_cell_backward_workspace(const LstmParams& p);

void lstm_cell_backward(const LstmParams& p, const float* x, const float* h, const float* c,
                        const float* w_ih, const float* w_hh, const float* gates,
                        const float* c_new, const float* dh_new, const float* dc_new, float* dx,
                        float* dh, float* dc, float* dw_ih, float* dw_hh, float* db,
                        float* workspace, cudaStream_t stream = 0);

// x (T, B, I), h0 and c0 (B, H) or null -> y (T, B, H), h_n, c_n (B, H), gates (T, B, 4H),
// cells (T, B, H) or null (then c_n carries the running cell state, as on the CPU).
void lstm_sequence_forward(const LstmParams& p, const float* x, const float* h0, const float* c0,
                           const float* w_ih, const float* w_hh, const float* b_ih,
                           const float* b_hh, float* y, float* h_n, float* c_n, float* gates,
                           float* cells, cudaStream_t stream = 0, float* workspace = nullptr);

index_t lstm_sequence_forward_workspace(const LstmParams& p);

// T * B * 4H + 2 * B * H, plus what the weight gradients need to split their reduction
// over T * B rows (on the current device).
index_t lstm_sequence_backward_workspace(const LstmParams& p);

void lstm_sequence_backward(const LstmParams& p, const float* x, const float* h0, const float* c0,
                            const float* w_ih, const float* w_hh, const float* y,
                            const float* gates, const float* cells, const float* dy,
                            const float* dh_n, const float* dc_n, float* dx, float* dh0,
                            float* dc0, float* dw_ih, float* dw_hh, float* db, float* workspace,
                            cudaStream_t stream = 0);

}  // namespace kiln::cuda
