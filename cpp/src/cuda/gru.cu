// kiln CUDA: the GRU cell and sequence, forward and backward (kiln/cuda/gru.hpp).
//
// Every product with a weight matrix runs on the tiled GEMM engine reading W (3H, k) in
// place. The input projection of all T steps is one GEMM written into the first three
// chunks of each step's (B, 4H) gate rows (ldc = 4H, b_ih in its epilogue); each step's
// recurrent projection hg = h W_hh^T + b_hh is one GEMM into the workspace. hg_n cannot join
// the input projection as the LSTM's whole recurrent product does: r multiplies it alone.
// The gate kernels are one thread per hidden unit of a batch row, in a grid-stride loop:
// consecutive threads own consecutive units, so every chunk's loads and stores coalesce,
// and a unit's nonlinearities, state update and (backward) gradients are one pass over
// memory.
#include "kiln/cuda/gru.hpp"

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
  index_t B, I, H, G3, G4, T;
};

Sizes check_sizes(const char* kernel, const GruParams& p, bool sequence) {
  KILN_CHECK(p.batch >= 0 && p.input_size >= 0 && p.hidden_size >= 0 && (!sequence || p.seq_len >= 0),
             kernel << ": sizes must be >= 0, got batch=" << p.batch << " input_size=" << p.input_size
                    << " hidden_size=" << p.hidden_size << (sequence ? " seq_len=" : "")
                    << (sequence ? p.seq_len : 1));
  Sizes s{p.batch, p.input_size, p.hidden_size, 0, 0, sequence ? p.seq_len : 1};
  s.G3 = kiln::detail::checked_size(kernel, "a projection (3 * hidden_size wide)", 3, s.H);
  s.G4 = kiln::detail::checked_size(kernel, "the gates (4 * hidden_size wide)", 4, s.H);
  kiln::detail::checked_size(kernel, "x", s.T, s.B, s.I);
  kiln::detail::checked_size(kernel, "the hidden states of all steps", s.T, s.B, s.H);
  kiln::detail::checked_size(kernel, "gates", s.T, s.B, s.G4);
  kiln::detail::checked_size(kernel, "w_ih", s.G3, s.I);
  kiln::detail::checked_size(kernel, "w_hh", s.G3, s.H);
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

// c (m, n; row stride ldc) = a @ b + beta c + bias (per column), split over k into `split`
// (split_floats of it) where that pays.
void gemm(index_t m, index_t n, index_t k, const MatrixOperand& a, const MatrixOperand& b, float beta, float* c,
          index_t ldc, const float* bias, cudaStream_t stream, const char* what, const Sizes& s,
          float* split = nullptr, index_t split_floats = 0) {
  detail::LinearEpilogue ep;
  ep.c = c;
  ep.ldc = ldc;
  ep.beta = beta;
  ep.bias = bias;
  ep.bias_axis = detail::BiasAxis::per_column;
  ep.vector_ok = detail::vector_aligned(c) && n % 4 == 0 && ldc % 4 == 0;
  throw_if_failed(detail::gemm_simt(m, n, k, 1, a, b, ep, stream, split, split_floats), what, sizes_text(s));
}

unsigned blocks_for(index_t work) {
  const index_t max_blocks = 8 * static_cast<index_t>(detail::multiprocessor_count());
  index_t blocks = (work + kThreads - 1) / kThreads;
  if (blocks > max_blocks) blocks = max_blocks;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

// gates (B, 4H): xg_r, xg_z, xg_n in, r, z, n, hn out (in place); hg (B, 3H) the recurrent
// projection, or null when h_prev is (then it is b_hh, or zero without one);
// h_out = (1 - z) n + z h_prev (h_prev null: zero).
__global__ void __launch_bounds__(kThreads)
    gates_forward_kernel(index_t B, index_t H, float* gates, const float* hg, const float* b_hh,
                         const float* h_prev, float* h_out) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t e = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < B * H; e += stride) {
    // B * H <= kMaxElements (checked): 32-bit division, several times cheaper on the GPU.
    const unsigned u = static_cast<unsigned>(e), hs = static_cast<unsigned>(H);
    const index_t b = u / hs, j = u % hs;
    float* g = gates + b * 4 * H + j;
    float h_r = 0.0f, h_z = 0.0f, h_n = 0.0f;
    if (hg) {
      const float* row = hg + b * 3 * H + j;
      h_r = row[0];
      h_z = row[H];
      h_n = row[2 * H];
    } else if (b_hh) {
      h_r = b_hh[j];
      h_z = b_hh[H + j];
      h_n = b_hh[2 * H + j];
    }
    const float r = detail::epilogue_math::sigmoid(g[0] + h_r);
    const float z = detail::epilogue_math::sigmoid(g[H] + h_z);
    const float n = tanhf(fmaf(r, h_n, g[2 * H]));
    const float hp = h_prev ? h_prev[e] : 0.0f;
    g[0] = r;
    g[H] = z;
    g[2 * H] = n;
    g[3 * H] = h_n;
    h_out[e] = fmaf(z, hp - n, n);
  }
}

// From the saved gates, h_prev (null: zero) and dh = dh_a + dh_b (dh_b null: zero): the
// projections' gradients d_x, d_h (B, 3H) and dh_prev = dh z (may be dh_a).
__global__ void __launch_bounds__(kThreads)
    gates_backward_kernel(index_t B, index_t H, const float* gates, const float* h_prev, const float* dh_a,
                          const float* dh_b, float* d_x, float* d_h, float* dh_prev) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t e = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < B * H; e += stride) {
    const unsigned u = static_cast<unsigned>(e), hs = static_cast<unsigned>(H);
    const index_t b = u / hs, j = u % hs;
    const float* g = gates + b * 4 * H + j;
    const float r = g[0], z = g[H], n = g[2 * H], hn = g[3 * H];
    const float dh = dh_a[e] + (dh_b ? dh_b[e] : 0.0f);
    const float hp = h_prev ? h_prev[e] : 0.0f;
    const float d_n = (dh * (1.0f - z)) * (1.0f - n * n);
    const float d_z = (dh * (hp - n)) * (z * (1.0f - z));
    const float d_r = (d_n * hn) * (r * (1.0f - r));
    float* dx = d_x + b * 3 * H + j;
    float* dhg = d_h + b * 3 * H + j;
    dx[0] = d_r;
    dx[H] = d_z;
    dx[2 * H] = d_n;
    dhg[0] = d_r;
    dhg[H] = d_z;
    dhg[2 * H] = d_n * r;
    dh_prev[e] = dh * z;
  }
}

void copy_or_zero(float* dst, const float* src, index_t n, cudaStream_t stream, const Sizes& s) {
  if (n == 0 || dst == src) return;
  const cudaError_t e = src ? cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, stream)
                            : cudaMemsetAsync(dst, 0, n * sizeof(float), stream);
  throw_if_failed(e, "gru state copy", sizes_text(s));
}

index_t max3(index_t a, index_t b, index_t c) { return a > b ? (a > c ? a : c) : (b > c ? b : c); }

index_t forward_split_floats(const Sizes& s) {
  const index_t projection = detail::gemm_workspace(s.T * s.B, s.G3, s.I, 1);
  const index_t recurrent = detail::gemm_workspace(s.B, s.G3, s.H, 1);
  return projection > recurrent ? projection : recurrent;
}

index_t backward_split_floats(const Sizes& s) {
  const index_t rows = s.T * s.B;
  return max3(detail::gemm_workspace(s.G3, s.I, rows, 1), detail::gemm_workspace(s.G3, s.H, rows, 1),
              detail::gemm_workspace(s.G3, s.H, s.B, 1));
}

void sequence_forward(const char* kFn, const Sizes& s, const float* x, const float* h0, const float* w_ih,
                      const float* w_hh, const float* b_ih, const float* b_hh, float* y, float* h_n, float* gates,
                      float* workspace, cudaStream_t stream) {
  const index_t state = s.B * s.H, step_gates = s.B * s.G4;
  require(kFn, "x", x, s.T * s.B * s.I);
  require(kFn, "w_ih", w_ih, s.G3 * s.I);
  require(kFn, "w_hh", w_hh, s.G3 * s.H);
  require(kFn, "y", y, s.T * state);
  require(kFn, "gates (required on the device)", gates, s.T * step_gates);
  require(kFn, "workspace", workspace, s.B * s.G3 + forward_split_floats(s));
  float* hg = workspace;
  float* split = workspace + s.B * s.G3;
  const index_t split_floats = forward_split_floats(s);

  gemm(s.T * s.B, s.G3, s.I, rows_of(x, s.T * s.B, s.I), rows_of(w_ih, s.G3, s.I), 0.0f, gates, s.G4, b_ih,
       stream, "gru_sequence_forward (input projection)", s, split, split_floats);
  for (index_t t = 0; t < s.T; ++t) {
    const float* h_prev = t == 0 ? h0 : y + (t - 1) * state;
    if (h_prev)
      gemm(s.B, s.G3, s.H, rows_of(h_prev, s.B, s.H), rows_of(w_hh, s.G3, s.H), 0.0f, hg, s.G3, b_hh, stream,
           "gru_sequence_forward (recurrent)", s, split, split_floats);
    if (state == 0) continue;
    throw_if_failed(launch(gates_forward_kernel, dim3(blocks_for(state)), dim3(kThreads), 0, stream, s.B, s.H,
                           gates + t * step_gates, h_prev ? hg : nullptr, b_hh, h_prev, y + t * state),
                    "gru gates", sizes_text(s));
  }
  if (h_n) copy_or_zero(h_n, s.T > 0 ? y + (s.T - 1) * state : h0, state, stream, s);
}

void sequence_backward(const char* kFn, const Sizes& s, const float* x, const float* h0, const float* w_ih,
                       const float* w_hh, const float* y, const float* gates, const float* dy, const float* dh_n,
                       float* dx, float* dh0, float* dw_ih, float* dw_hh, float* db_ih, float* db_hh,
                       float* workspace, cudaStream_t stream) {
  const index_t state = s.B * s.H, step_gates = s.B * s.G4, rows = s.T * s.B;
  require(kFn, "x", x, dw_ih ? s.T * s.B * s.I : 0);
  require(kFn, "w_ih", w_ih, dx ? s.G3 * s.I : 0);
  require(kFn, "w_hh", w_hh, s.G3 * s.H);
  require(kFn, "y", y, s.T > 1 ? (s.T - 1) * state : 0);
  require(kFn, "gates", gates, s.T * step_gates);
  require(kFn, "workspace", workspace, 2 * rows * s.G3 + state + backward_split_floats(s));
  float* d_x = workspace;
  float* d_h = d_x + rows * s.G3;
  float* dh_next = d_h + rows * s.G3;  // the gradient reaching h_t from later steps
  float* split = dh_next + state;
  const index_t split_floats = backward_split_floats(s);
  copy_or_zero(dh_next, dh_n, state, stream, s);
  for (index_t t = s.T - 1; t >= 0 && state > 0; --t) {
    const float* h_prev = t > 0 ? y + (t - 1) * state : h0;
    float* d_h_t = d_h + t * s.B * s.G3;
    throw_if_failed(launch(gates_backward_kernel, dim3(blocks_for(state)), dim3(kThreads), 0, stream, s.B, s.H,
                           gates + t * step_gates, h_prev, static_cast<const float*>(dh_next),
                           dy ? dy + t * state : nullptr, d_x + t * s.B * s.G3, d_h_t, dh_next),
                    "gru gates backward", sizes_text(s));
    if (t > 0 || dh0)
      gemm(s.B, s.H, s.G3, rows_of(d_h_t, s.B, s.G3), cols_of(w_hh, s.G3, s.H), 1.0f, dh_next, s.H, nullptr,
           stream, "gru_sequence_backward (dh)", s);
  }
  if (dh0) copy_or_zero(dh0, dh_next, state, stream, s);

  if (dx) gemm(rows, s.I, s.G3, rows_of(d_x, rows, s.G3), cols_of(w_ih, s.G3, s.I), 0.0f, dx, s.I, nullptr,
               stream, "gru dx", s);
  if (dw_ih) gemm(s.G3, s.I, rows, cols_of(d_x, rows, s.G3), cols_of(x, rows, s.I), 0.0f, dw_ih, s.I, nullptr,
                  stream, "gru dw_ih", s, split, split_floats);
  if (db_ih) throw_if_failed(detail::column_sums(rows, s.G3, d_x, s.G3, db_ih, stream), "gru db_ih", sizes_text(s));
  if (db_hh) throw_if_failed(detail::column_sums(rows, s.G3, d_h, s.G3, db_hh, stream), "gru db_hh", sizes_text(s));
  if (dw_hh) {
    // Step t > 0 pairs with y[t-1]: one GEMM over steps 1..T-1; step 0 with h0 (if any).
    const index_t shifted = s.T > 0 ? (s.T - 1) * s.B : 0;
    gemm(s.G3, s.H, shifted, cols_of(d_h + (s.T > 0 ? s.B * s.G3 : 0), shifted, s.G3), cols_of(y, shifted, s.H),
         0.0f, dw_hh, s.H, nullptr, stream, "gru dw_hh", s, split, split_floats);
    if (h0 && s.T > 0)
      gemm(s.G3, s.H, s.B, cols_of(d_h, s.B, s.G3), cols_of(h0, s.B, s.H), 1.0f, dw_hh, s.H, nullptr, stream,
           "gru dw_hh (h0)", s, split, split_floats);
  }
}

}  // namespace

index_t gru_sequence_forward_workspace(const GruParams& p) {
  const Sizes s = check_sizes("gru_sequence_forward", p, true);
  return s.B * s.G3 + forward_split_floats(s);
}

index_t gru_sequence_backward_workspace(const GruParams& p) {
  const Sizes s = check_sizes("gru_sequence_backward", p, true);
  return 2 * s.T * s.B * s.G3 + s.B * s.H + backward_split_floats(s);
}

void gru_cell_forward(const GruParams& p, const float* x, const float* h, const float* w_ih,
                      const float* w_hh, const float* b_ih, const float* b_hh, float* h_new,
                      float* gates, float* workspace, cudaStream_t stream) {
  constexpr const char* kFn = "gru_cell_forward";
  const Sizes s = check_sizes(kFn, p, false);
  require(kFn, "h", h, s.B * s.H);
  sequence_forward(kFn, s, x, h, w_ih, w_hh, b_ih, b_hh, h_new, nullptr, gates, workspace, stream);
}

void gru_cell_backward(const GruParams& p, const float* x, const float* h, const float* w_ih,
                       const float* w_hh, const float* gates, const float* dh_new, float* dx,
                       float* dh, float* dw_ih, float* dw_hh, float* db_ih, float* db_hh,
                       float* workspace, cudaStream_t stream) {
  constexpr const char* kFn = "gru_cell_backward";
  const Sizes s = check_sizes(kFn, p, false);
  require(kFn, "h", h, s.B * s.H);
  require(kFn, "dh_new", dh_new, s.B * s.H);
  sequence_backward(kFn, s, x, h, w_ih, w_hh, nullptr, gates, dh_new, nullptr, dx, dh, dw_ih, dw_hh, db_ih,
                    db_hh, workspace, stream);
}

void gru_sequence_forward(const GruParams& p, const float* x, const float* h0, const float* w_ih,
                          const float* w_hh, const float* b_ih, const float* b_hh, float* y,
                          float* h_n, float* gates, float* workspace, cudaStream_t stream) {
  const Sizes s = check_sizes("gru_sequence_forward", p, true);
  sequence_forward("gru_sequence_forward", s, x, h0, w_ih, w_hh, b_ih, b_hh, y, h_n, gates, workspace, stream);
}

void gru_sequence_backward(const GruParams& p, const float* x, const float* h0, const float* w_ih,
                           const float* w_hh, const float* y, const float* gates, const float* dy,
                           const float* dh_n, float* dx, float* dh0, float* dw_ih, float* dw_hh,
                           float* db_ih, float* db_hh, float* workspace, cudaStream_t stream) {
  const Sizes s = check_sizes("gru_sequence_backward", p, true);
  sequence_backward("gru_sequence_backward", s, x, h0, w_ih, w_hh, y, gates, dy, dh_n, dx, dh0, dw_ih, dw_hh,
                    db_ih, db_hh, workspace, stream);
}

}  // namespace kiln::cuda
