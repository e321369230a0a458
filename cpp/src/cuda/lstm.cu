// kiln CUDA: the LSTM cell and sequence, forward and backward (kiln/cuda/lstm.hpp).
//
// Every product with a weight matrix runs on the tiled GEMM engine reading W (4H, k) in
// place (W^T is a choice of stride). The cell's GEMM reduces over [x h] against
// [W_ih W_hh] in one pass (SplitDepthOperand) with both biases in its epilogue; the
// sequence's input projection covers all T steps in one GEMM, and each step adds its
// recurrent product into its gates (beta = 1). The gate kernels are one thread per
// hidden unit of a batch row, in a grid-stride loop: the four gates of a unit are read
// and written by the thread that owns it, so the nonlinearities, the cell update and
// (backward) the gate gradients are one pass over memory.
#include "kiln/cuda/lstm.hpp"

#include <string>

#include "../cpu/check.hpp"
#include "bias_grad.hpp"
#include "check.hpp"
#include "gemm_epilogue.cuh"
#include "gemm_tile.cuh"

namespace kiln::cuda {
namespace {

using detail::MatrixOperand;
using detail::throw_if_failed;

constexpr int kThreads = 256;

struct Sizes {
  index_t B, I, H, G, T;
};

Sizes check_sizes(const char* kernel, const LstmParams& p, bool sequence) {
  KILN_CHECK(p.batch >= 0 && p.input_size >= 0 && p.hidden_size >= 0 && (!sequence || p.seq_len >= 0),
             kernel << ": sizes must be >= 0, got batch=" << p.batch << " input_size=" << p.input_size
                    << " hidden_size=" << p.hidden_size << (sequence ? " seq_len=" : "")
                    << (sequence ? p.seq_len : 1));
  Sizes s{p.batch, p.input_size, p.hidden_size, 0, sequence ? p.seq_len : 1};
  s.G = kiln::detail::checked_size(kernel, "the gates (4 * hidden_size wide)", 4, s.H);
  kiln::detail::checked_size(kernel, "x", s.T, s.B, s.I);
  kiln::detail::checked_size(kernel, "the hidden states of all steps", s.T, s.B, s.H);
  kiln::detail::checked_size(kernel, "gates", s.T, s.B, s.G);
  kiln::detail::checked_size(kernel, "w_ih", s.G, s.I);
  kiln::detail::checked_size(kernel, "w_hh", s.G, s.H);
  return s;
}

void require(const char* kernel, const char* name, const void* data, index_t elements) {
  KILN_CHECK(elements == 0 || data != nullptr,
             kernel << ": " << name << " is null but has " << elements << " elements");
}

std::string sizes_text(const Sizes& s) {
  return "T=" + std::to_string(s.T) + " B=" + std::to_string(s.B) + " I=" + std::to_string(s.I) +
         " H=" + std::to_string(s.H);
}

// M (rows, cols) as an operand whose rows are M's rows (depth: cols), or M's columns.
MatrixOperand rows_of(const float* m, index_t rows, index_t cols) {
  return detail::matrix_operand(m, rows, cols, cols > 0 ? cols : 1, true);
}
MatrixOperand cols_of(const float* m, index_t rows, index_t cols) {
  return detail::matrix_operand(m, cols, rows, cols > 0 ? cols : 1, false);
}

// c (m, n) = a @ b (operands as gemm_tile.cuh defines them) + beta c + bias + bias2 (per
// column); split over k into `split` (split_floats of it) where that pays.
template <class A, class B>
void gemm(index_t m, index_t n, index_t k, const A& a, const B& b, float beta, float* c,
          const float* bias, const float* bias2, cudaStream_t stream, const char* what,
          const Sizes& s, float* split = nullptr, index_t split_floats = 0) {
  detail::LinearEpilogue ep;
  ep.c = c;
  ep.ldc = n;
  ep.beta = beta;
  ep.bias = bias;
  ep.bias2 = bias2;
  ep.bias_axis = detail::BiasAxis::per_column;
  ep.vector_ok = detail::vector_aligned(c) && n % 4 == 0;
  throw_if_failed(detail::gemm_simt(m, n, k, 1, a, b, ep, stream, split, split_floats), what,
                  sizes_text(s));
}

unsigned blocks_for(index_t work) {
  const index_t max_blocks = 8 * static_cast<index_t>(detail::multiprocessor_count());
  index_t blocks = (work + kThreads - 1) / kThreads;
  if (blocks > max_blocks) blocks = max_blocks;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

// gates (B, 4H) preactivations -> activated i, f, g, o in place; c_out = f c_prev + i g
// (c_prev null: zero), h_out = o tanh(c_out). c_out may be c_prev.
__global__ void __launch_bounds__(kThreads)
    gates_forward_kernel(index_t B, index_t H, float* gates, const float* c_prev, float* c_out,
                         float* h_out) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t e = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < B * H; e += stride) {
    // B * H <= kMaxElements (checked): 32-bit division, several times cheaper on the GPU.
    const unsigned u = static_cast<unsigned>(e), h = static_cast<unsigned>(H);
    const index_t b = u / h, j = u % h;
    float* g4 = gates + b * 4 * H + j;
    const float i = detail::epilogue_math::sigmoid(g4[0]), f = detail::epilogue_math::sigmoid(g4[H]);
    const float g = tanhf(g4[2 * H]), o = detail::epilogue_math::sigmoid(g4[3 * H]);
    const float c = fmaf(f, c_prev ? c_prev[e] : 0.0f, i * g);
    g4[0] = i;
    g4[H] = f;
    g4[2 * H] = g;
    g4[3 * H] = o;
    c_out[e] = c;
    h_out[e] = o * tanhf(c);
  }
}

// From the activated gates, c_prev (null: zero), c_new and the upstream dh = dh_a + dh_b
// and dc_next (each null: zero): d_pre (B, 4H) and dc_prev = dc f (null: not needed;
// may be dc_next).
__global__ void __launch_bounds__(kThreads)
    gates_backward_kernel(index_t B, index_t H, const float* gates, const float* c_prev,
                          const float* c_new, const float* dh_a, const float* dh_b,
                          const float* dc_next, float* d_pre, float* dc_prev) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t e = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < B * H; e += stride) {
    // B * H <= kMaxElements (checked): 32-bit division, several times cheaper on the GPU.
    const unsigned u = static_cast<unsigned>(e), h = static_cast<unsigned>(H);
    const index_t b = u / h, j = u % h;
    const float* g4 = gates + b * 4 * H + j;
    const float i = g4[0], f = g4[H], g = g4[2 * H], o = g4[3 * H];
    const float tanh_c = tanhf(c_new[e]);
    const float dh = (dh_a ? dh_a[e] : 0.0f) + (dh_b ? dh_b[e] : 0.0f);
    const float dh_o = dh * o;
    const float dc = fmaf(dh_o, 1.0f - tanh_c * tanh_c, dc_next ? dc_next[e] : 0.0f);
    float* d4 = d_pre + b * 4 * H + j;
    d4[0] = (dc * g) * (i * (1.0f - i));
    d4[H] = (dc * (c_prev ? c_prev[e] : 0.0f)) * (f * (1.0f - f));
    d4[2 * H] = (dc * i) * (1.0f - g * g);
    d4[3 * H] = (dh_o * tanh_c) * (1.0f - o);
    if (dc_prev) dc_prev[e] = dc * f;
  }
}

void gates_forward(const Sizes& s, float* gates, const float* c_prev, float* c_out, float* h_out,
                   cudaStream_t stream) {
  if (s.B * s.H == 0) return;
  throw_if_failed(launch(gates_forward_kernel, dim3(blocks_for(s.B * s.H)), dim3(kThreads), 0,
                         stream, s.B, s.H, gates, c_prev, c_out, h_out),
                  "lstm gates", sizes_text(s));
}

void gates_backward(const Sizes& s, const float* gates, const float* c_prev, const float* c_new,
                    const float* dh_a, const float* dh_b, const float* dc_next, float* d_pre,
                    float* dc_prev, cudaStream_t stream) {
  if (s.B * s.H == 0) return;
  throw_if_failed(launch(gates_backward_kernel, dim3(blocks_for(s.B * s.H)), dim3(kThreads), 0,
                         stream, s.B, s.H, gates, c_prev, c_new, dh_a, dh_b, dc_next, d_pre, dc_prev),
                  "lstm gates backward", sizes_text(s));
}

void copy_or_zero(float* dst, const float* src, index_t n, cudaStream_t stream, const Sizes& s) {
  if (n == 0 || dst == src) return;
  const cudaError_t e = src ? cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, stream)
                            : cudaMemsetAsync(dst, 0, n * sizeof(float), stream);
  throw_if_failed(e, "lstm state copy", sizes_text(s));
}

// Floats the weight-gradient GEMMs over `rows` rows may use to split their reduction.
index_t split_floats_for(const Sizes& s, index_t rows) {
  const index_t a = detail::gemm_workspace(s.G, s.I, rows, 1), b = detail::gemm_workspace(s.G, s.H, rows, 1);
  const index_t c = detail::gemm_workspace(s.G, s.H, s.B, 1);
  return a > b ? (a > c ? a : c) : (b > c ? b : c);
}

// The gradients that need whole-sequence GEMMs over d_pre (rows, 4H): dx, dW_ih, db.
void input_side_gradients(const Sizes& s, index_t rows, const float* d_pre, const float* x,
                          const float* w_ih, float* dx, float* dw_ih, float* db, float* split,
                          index_t split_floats, cudaStream_t stream) {
  if (dx) gemm(rows, s.I, s.G, rows_of(d_pre, rows, s.G), cols_of(w_ih, s.G, s.I), 0.0f, dx,
               nullptr, nullptr, stream, "lstm dx", s);
  if (dw_ih) gemm(s.G, s.I, rows, cols_of(d_pre, rows, s.G), cols_of(x, rows, s.I), 0.0f, dw_ih,
                  nullptr, nullptr, stream, "lstm dw_ih", s, split, split_floats);
  if (db) throw_if_failed(detail::column_sums(rows, s.G, d_pre, s.G, db, stream), "lstm db", sizes_text(s));
}

}  // namespace

void lstm_cell_forward(const LstmParams& p, const float* x, const float* h, const float* c,
                       const float* w_ih, const float* w_hh, const float* b_ih, const float* b_hh,
                       float* h_new, float* c_new, float* gates, cudaStream_t stream,
                       float* workspace) {
  constexpr const char* kFn = "lstm_cell_forward";
  const Sizes s = check_sizes(kFn, p, false);
  require(kFn, "x", x, s.B * s.I);
  require(kFn, "h", h, s.B * s.H);
  require(kFn, "c", c, s.B * s.H);
  require(kFn, "w_ih", w_ih, s.G * s.I);
  require(kFn, "w_hh", w_hh, s.G * s.H);
  require(kFn, "h_new", h_new, s.B * s.H);
  require(kFn, "c_new", c_new, s.B * s.H);
  require(kFn, "gates (required on the device)", gates, s.B * s.G);
  const auto a = detail::split_depth_operand(rows_of(x, s.B, s.I), rows_of(h, s.B, s.H));
  const auto b = detail::split_depth_operand(rows_of(w_ih, s.G, s.I), rows_of(w_hh, s.G, s.H));
  gemm(s.B, s.G, s.I + s.H, a, b, 0.0f, gates, b_ih, b_hh, stream, "lstm_cell_forward (gemm)", s,
       workspace, workspace ? lstm_cell_forward_workspace(p) : 0);
  gates_forward(s, gates, c, c_new, h_new, stream);
}

index_t lstm_cell_forward_workspace(const LstmParams& p) {
  const Sizes s = check_sizes("lstm_cell_forward", p, false);
  return detail::gemm_workspace(s.B, s.G, s.I + s.H, 1);
}

index_t lstm_cell_backward_workspace(const LstmParams& p) {
  const Sizes s = check_sizes("lstm_cell_backward", p, false);
  return s.B * s.G + split_floats_for(s, s.B);
}

void lstm_cell_backward(const LstmParams& p, const float* x, const float* h, const float* c,
                        const float* w_ih, const float* w_hh, const float* gates,
                        const float* c_new, const float* dh_new, const float* dc_new, float* dx,
                        float* dh, float* dc, float* dw_ih, float* dw_hh, float* db,
                        float* workspace, cudaStream_t stream) {
  constexpr const char* kFn = "lstm_cell_backward";
  const Sizes s = check_sizes(kFn, p, false);
  require(kFn, "x", x, dw_ih ? s.B * s.I : 0);
  require(kFn, "h", h, dw_hh ? s.B * s.H : 0);
  require(kFn, "c", c, s.B * s.H);
  require(kFn, "w_ih", w_ih, dx ? s.G * s.I : 0);
  require(kFn, "w_hh", w_hh, dh ? s.G * s.H : 0);
  require(kFn, "gates", gates, s.B * s.G);
  require(kFn, "c_new", c_new, s.B * s.H);
  require(kFn, "dh_new", dh_new, s.B * s.H);
  require(kFn, "workspace", workspace, lstm_cell_backward_workspace(p));
  float* d_pre = workspace;
  float* split = workspace + s.B * s.G;
  const index_t split_floats = split_floats_for(s, s.B);
  gates_backward(s, gates, c, c_new, dh_new, nullptr, dc_new, d_pre, dc, stream);
  if (dh) gemm(s.B, s.H, s.G, rows_of(d_pre, s.B, s.G), cols_of(w_hh, s.G, s.H), 0.0f, dh, nullptr,
               nullptr, stream, "lstm dh", s);
  input_side_gradients(s, s.B, d_pre, x, w_ih, dx, dw_ih, db, split, split_floats, stream);
  if (dw_hh) gemm(s.G, s.H, s.B, cols_of(d_pre, s.B, s.G), cols_of(h, s.B, s.H), 0.0f, dw_hh,
                  nullptr, nullptr, stream, "lstm dw_hh", s, split, split_floats);
}

void lstm_sequence_forward(const LstmParams& p, const float* x, const float* h0, const float* c0,
                           const float* w_ih, const float* w_hh, const float* b_ih,
                           const float* b_hh, float* y, float* h_n, float* c_n, float* gates,
                           float* cells, cudaStream_t stream, float* workspace) {
  constexpr const char* kFn = "lstm_sequence_forward";
  const Sizes s = check_sizes(kFn, p, true);
  const index_t state = s.B * s.H, step_gates = s.B * s.G;
  require(kFn, "x", x, s.T * s.B * s.I);
  require(kFn, "w_ih", w_ih, s.G * s.I);
  require(kFn, "w_hh", w_hh, s.G * s.H);
  require(kFn, "y", y, s.T * state);
  require(kFn, "h_n", h_n, state);
  require(kFn, "c_n", c_n, state);
  require(kFn, "gates (required on the device)", gates, s.T * step_gates);

  // The input projection of every step, both biases fused.
  const index_t split_floats = workspace ? lstm_sequence_forward_workspace(p) : 0;
  gemm(s.T * s.B, s.G, s.I, rows_of(x, s.T * s.B, s.I), rows_of(w_ih, s.G, s.I), 0.0f, gates, b_ih,
       b_hh, stream, "lstm_sequence_forward (input projection)", s, workspace, split_floats);
  for (index_t t = 0; t < s.T; ++t) {
    float* pre = gates + t * step_gates;
    const float* h_prev = t == 0 ? h0 : y + (t - 1) * state;
    if (h_prev)  // a null h0 adds zero
      gemm(s.B, s.G, s.H, rows_of(h_prev, s.B, s.H), rows_of(w_hh, s.G, s.H), 1.0f, pre, nullptr,
           nullptr, stream, "lstm_sequence_forward (recurrent)", s, workspace, split_floats);
    const float* c_prev = t == 0 ? c0 : (cells ? cells + (t - 1) * state : c_n);
    float* c_out = cells ? cells + t * state : c_n;
    gates_forward(s, pre, c_prev, c_out, y + t * state, stream);
  }
  copy_or_zero(h_n, s.T > 0 ? y + (s.T - 1) * state : h0, state, stream, s);
  copy_or_zero(c_n, s.T > 0 ? (cells ? cells + (s.T - 1) * state : c_n) : c0, state, stream, s);
}

index_t lstm_sequence_forward_workspace(const LstmParams& p) {
  const Sizes s = check_sizes("lstm_sequence_forward", p, true);
  const index_t projection = detail::gemm_workspace(s.T * s.B, s.G, s.I, 1);
  const index_t recurrent = detail::gemm_workspace(s.B, s.G, s.H, 1);
  return projection > recurrent ? projection : recurrent;
}

index_t lstm_sequence_backward_workspace(const LstmParams& p) {
  const Sizes s = check_sizes("lstm_sequence_backward", p, true);
  return s.T * s.B * s.G + 2 * s.B * s.H + split_floats_for(s, s.T * s.B);
}

void lstm_sequence_backward(const LstmParams& p, const float* x, const float* h0, const float* c0,
                            const float* w_ih, const float* w_hh, const float* y,
                            const float* gates, const float* cells, const float* dy,
                            const float* dh_n, const float* dc_n, float* dx, float* dh0,
                            float* dc0, float* dw_ih, float* dw_hh, float* db, float* workspace,
                            cudaStream_t stream) {
  constexpr const char* kFn = "lstm_sequence_backward";
  const Sizes s = check_sizes(kFn, p, true);
  const index_t state = s.B * s.H, step_gates = s.B * s.G;
  require(kFn, "x", x, dw_ih ? s.T * s.B * s.I : 0);
  require(kFn, "w_ih", w_ih, dx ? s.G * s.I : 0);
  require(kFn, "w_hh", w_hh, s.G * s.H);
  require(kFn, "y", y, dw_hh ? s.T * state : 0);
  require(kFn, "gates", gates, s.T * step_gates);
  require(kFn, "cells", cells, s.T * state);
  require(kFn, "workspace", workspace, lstm_sequence_backward_workspace(p));

  float* d_pre = workspace;
  float* dh_next = d_pre + s.T * step_gates;  // the gradients reaching h_t, c_t from later steps
  float* dc_next = dh_next + state;
  float* split = dc_next + state;  // the weight gradients' split-k partial sums
  const index_t split_floats = split_floats_for(s, s.T * s.B);
  copy_or_zero(dh_next, dh_n, state, stream, s);
  copy_or_zero(dc_next, dc_n, state, stream, s);
  for (index_t t = s.T - 1; t >= 0; --t) {
    const float* c_prev = t > 0 ? cells + (t - 1) * state : c0;
    float* d_pre_t = d_pre + t * step_gates;
    gates_backward(s, gates + t * step_gates, c_prev, cells + t * state, dh_next,
                   dy ? dy + t * state : nullptr, dc_next, d_pre_t, dc_next, stream);
    float* dh_prev = t > 0 ? dh_next : dh0;
    if (dh_prev)
      gemm(s.B, s.H, s.G, rows_of(d_pre_t, s.B, s.G), cols_of(w_hh, s.G, s.H), 0.0f, dh_prev,
           nullptr, nullptr, stream, "lstm_sequence_backward (dh)", s);
  }
  if (dh0 && s.T == 0) copy_or_zero(dh0, dh_next, state, stream, s);
  if (dc0) copy_or_zero(dc0, dc_next, state, stream, s);

  const index_t rows = s.T * s.B;
  input_side_gradients(s, rows, d_pre, x, w_ih, dx, dw_ih, db, split, split_floats, stream);
  if (dw_hh) {
    // Step t > 0 pairs with y[t-1]: one GEMM over steps 1..T-1; step 0 with h0 (if any).
    const index_t shifted = s.T > 0 ? (s.T - 1) * s.B : 0;
    gemm(s.G, s.H, shifted, cols_of(d_pre + (s.T > 0 ? step_gates : 0), shifted, s.G),
         cols_of(y, shifted, s.H), 0.0f, dw_hh, nullptr, nullptr, stream, "lstm dw_hh", s, split,
         split_floats);
    if (h0 && s.T > 0)
      gemm(s.G, s.H, s.B, cols_of(d_pre, s.B, s.G), cols_of(h0, s.B, s.H), 1.0f, dw_hh, nullptr,
           nullptr, stream, "lstm dw_hh (h0)", s, split, split_floats);
  }
}

}  // namespace kiln::cuda
