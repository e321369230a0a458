// LSTM forward and backward on the GEMM engine.
//
// Every product with a weight matrix is a detail::gemm call reading W (4H, K) through
// strides, so W^T needs no copy. A sequence projects the inputs of all T steps in one
// (T*B x 4H) GEMM with both biases fused into its epilogue; each step then adds one
// recurrent GEMM into those gates (beta = 1) and runs one fused vectorised pass (gate
// nonlinearities + cell update, lstm_gates.hpp). W_hh is packed into GEMM panels once
// per sequence, not once per step. Backward mirrors it: the per-step fused pass fills a
// (T, B, 4H) buffer of gate gradients and one GEMM against the packed W_hh carries dh
// back a step; then dW_ih and dx are each one GEMM over all steps, and dW_hh one GEMM
// over steps 1..T-1 against y (plus one B-row update against h0, when given).
//
// Results do not depend on the thread count: the GEMM engine sums each element in a
// fixed order, the pointwise passes are elementwise, and the bias gradient sums each
// column in row order.
#include "kiln/lstm.hpp"

#include <algorithm>
#include <memory>
#include <vector>

#include "check.hpp"
#include "dispatch.hpp"
#include "gemm.hpp"
#include "parallel.hpp"

namespace kiln {
namespace {

using detail::StridedMatrix;

// Rough flops of one hidden unit of the pointwise passes (four to five transcendentals).
constexpr double kPointwiseFlopsPerUnit = 50.0;

// Element counts of every operand, each checked against kMaxElements.
struct LstmSizes {
  index_t B, I, H, G, T;  // G = 4H, the width of the gates
  index_t steps_x, state, steps_state, steps_gates, w_ih, w_hh;
};

LstmSizes check_sizes(const char* kernel, const LstmParams& p, bool sequence) {
  KILN_CHECK(p.batch >= 0 && p.input_size >= 0 && p.hidden_size >= 0 &&
                 (!sequence || p.seq_len >= 0),
             kernel << ": sizes must be >= 0, got batch=" << p.batch << " input_size="
                    << p.input_size << " hidden_size=" << p.hidden_size
                    << (sequence ? " seq_len=" : "") << (sequence ? p.seq_len : 1));
  LstmSizes s;
  s.B = p.batch;
  s.I = p.input_size;
  s.H = p.hidden_size;
  s.T = sequence ? p.seq_len : 1;
  s.G = detail::checked_size(kernel, "the gates (4 * hidden_size wide)", 4, s.H);
  s.steps_x = detail::checked_size(kernel, "x", s.T, s.B, s.I);
  s.state = detail::checked_size(kernel, "the hidden state", s.B, s.H);
  s.steps_state = detail::checked_size(kernel, "the hidden states of all steps", s.T, s.B, s.H);
  s.steps_gates = detail::checked_size(kernel, "gates", s.T, s.B, s.G);
  s.w_ih = detail::checked_size(kernel, "w_ih", s.G, s.I);
  s.w_hh = detail::checked_size(kernel, "w_hh", s.G, s.H);
  return s;
}

// A required operand may be null only when it has no elements.
void require(const char* kernel, const char* name, const void* data, index_t elements) {
  KILN_CHECK(elements == 0 || data != nullptr,
             kernel << ": " << name << " is null but has " << elements << " elements");
}

// A (rows, H) operand that may be absent; an absent one reads as zeros (a zero row
// repeated with row stride 0), so the pointwise loops need no branch per element.
struct Rows {
  const float* data;
  index_t stride;
  const float* row(index_t r) const { return data + r * stride; }
};

Rows rows_or_zeros(const float* data, index_t H, const std::vector<float>& zero_row) {
  return data ? Rows{data, H} : Rows{zero_row.data(), 0};
}

// W (4H, k) read as W^T (k, 4H), without a copy.
StridedMatrix transposed_weight(const float* w, index_t k) { return {w, 1, k}; }
StridedMatrix row_major(const float* m, index_t cols) { return {m, cols, 1}; }
// M (rows, cols) read as M^T.
StridedMatrix transposed(const float* m, index_t cols) { return {m, 1, cols}; }

// b_ih + b_hh as the one (4H,) bias of the input-projection epilogue (null when neither).
const float* combined_bias(const float* b_ih, const float* b_hh, index_t G,
                           std::vector<float>& storage) {
  if (!b_ih || !b_hh) return b_ih ? b_ih : b_hh;
  storage.resize(static_cast<std::size_t>(G));
  for (index_t j = 0; j < G; ++j) storage[j] = b_ih[j] + b_hh[j];
  return storage.data();
}

// pre (rows, 4H) = x (rows, I) @ W_ih^T + bias.
void project_inputs(const LstmSizes& s, index_t rows, const float* x, const float* w_ih,
                    const float* bias, float* pre) {
  const detail::GemmEpilogue epilogue{
      bias, bias ? detail::BiasAxis::per_column : detail::BiasAxis::none, Activation::none};
  detail::gemm(rows, s.G, s.I, 1.0f, row_major(x, s.I), transposed_weight(w_ih, s.I), 0.0f, pre,
               s.G, epilogue);
}

// The recurrent weights of a sequence, packed once for the GEMM of every step: B (k, n)
// read through `b`. Null for a single step, where gemm() packs as it goes at no extra cost.
std::unique_ptr<detail::PackedB> pack_for_steps(const LstmSizes& s, index_t k, index_t n,
                                                StridedMatrix b) {
  if (s.T < 2 || s.B == 0) return nullptr;
  return std::make_unique<detail::PackedB>(k, n, b);
}

// pre (B, 4H) += h (B, H) @ W_hh^T, from W_hh packed by pack_for_steps when not null.
void add_recurrent(const LstmSizes& s, const float* h, const float* w_hh,
                   const detail::PackedB* packed_w_hh, float* pre) {
  if (packed_w_hh) {
    detail::gemm_packed_b(s.B, 1.0f, row_major(h, s.H), *packed_w_hh, 1.0f, pre, s.G);
  } else {
    detail::gemm(s.B, s.G, s.H, 1.0f, row_major(h, s.H), transposed_weight(w_hh, s.H), 1.0f,
                 pre, s.G);
  }
}

// Units of one batch row per work item of the gate passes: a multiple of 16, so a unit's
// arithmetic does not depend on the thread count (lstm_gates.hpp).
constexpr index_t kGateSpan = 512;

// Runs span(b, j, n) over every batch row b and its units [j, j + n), in work items of
// kGateSpan units shared among the threads (by rows, or within a row when B is small).
template <class Span>
void for_each_gate_span(const LstmSizes& s, const Span& span) {
  const index_t spans_per_row = (s.H + kGateSpan - 1) / kGateSpan, items = s.B * spans_per_row;
  const int nthreads = detail::threads_for(kPointwiseFlopsPerUnit * s.B * s.H);
  detail::parallel_for(items, nthreads, [&](index_t item) {
    const index_t b = item / spans_per_row, j = (item % spans_per_row) * kGateSpan;
    span(b, j, std::min(kGateSpan, s.H - j));
  });
}

// One step's gate nonlinearities and cell update, fused: the preactivations in
// gates (B, 4H) become the activated i, f, g, o in place; c_out = f * c_prev + i * g,
// h_out = o * tanh(c_out). c_out may be c_prev itself (each element is read first).
void gates_forward(const LstmSizes& s, float* gates, Rows c_prev, float* c_out, float* h_out) {
  const detail::LstmGatesForward kernel = detail::cpu_kernels().lstm_gates.forward;
  for_each_gate_span(s, [&](index_t b, index_t j, index_t n) {
    kernel(n, s.H, {gates + b * s.G + j, c_prev.row(b) + j, c_out + b * s.H + j,
                    h_out + b * s.H + j});
  });
}

// One step's gradients through the gates, fused: from the activated gates (B, 4H),
// c_prev and c_new (B, H) and the upstream dh = dh_a + dh_b and dc_next (B, H), the
// preactivation gradients d_pre (B, 4H) and dc_prev = dc * f, where dc is the total
// gradient of c_new. dc_prev may be dc_next itself.
void gates_backward(const LstmSizes& s, const float* gates, Rows c_prev, const float* c_new,
                    Rows dh_a, Rows dh_b, Rows dc_next, float* d_pre, float* dc_prev) {
  const detail::LstmGatesBackward kernel = detail::cpu_kernels().lstm_gates.backward;
  for_each_gate_span(s, [&](index_t b, index_t j, index_t n) {
    kernel(n, s.H, {gates + b * s.G + j, c_prev.row(b) + j, c_new + b * s.H + j,
                    dh_a.row(b) + j, dh_b.row(b) + j, dc_next.row(b) + j, d_pre + b * s.G + j,
                    dc_prev + b * s.H + j});
  });
}

// out (cols,) = the sum of the rows of m (rows, cols), each column summed in row order.
void column_sums(index_t rows, index_t cols, const float* m, float* out) {
  const int nthreads = detail::threads_for(static_cast<double>(rows) * cols);
  detail::parallel(nthreads, [&](int t, int nt) {
    index_t j0, j1;
    detail::split_range(cols, t, nt, 16, j0, j1);
    std::fill(out + j0, out + j1, 0.0f);
    for (index_t r = 0; r < rows; ++r) {
      const float* row = m + r * cols;
      for (index_t j = j0; j < j1; ++j) out[j] += row[j];
    }
  });
}

// Weight and bias gradients from the gate gradients d_pre (rows, 4H):
// dW_ih = d_pre^T @ x (rows, I), db = column sums of d_pre.
void input_weight_gradients(const LstmSizes& s, index_t rows, const float* d_pre,
                            const float* x, float* dw_ih, float* db) {
  if (dw_ih) {
    detail::gemm(s.G, s.I, rows, 1.0f, transposed(d_pre, s.G), row_major(x, s.I), 0.0f, dw_ih,
                 s.I);
  }
  if (db) column_sums(rows, s.G, d_pre, db);
}

// d_in (rows, k) = d_pre (rows, 4H) @ W (4H, k).
void gradient_through_weight(const LstmSizes& s, index_t rows, index_t k, const float* d_pre,
                             const float* w, float* d_in) {
  detail::gemm(rows, k, s.G, 1.0f, row_major(d_pre, s.G), row_major(w, k), 0.0f, d_in, k);
}

}  // namespace

void lstm_cell_forward(const LstmParams& p, const float* x, const float* h, const float* c,
                       const float* w_ih, const float* w_hh, const float* b_ih, const float* b_hh,
                       float* h_new, float* c_new, float* gates) {
  constexpr const char* kFn = "lstm_cell_forward";
  const LstmSizes s = check_sizes(kFn, p, false);
  require(kFn, "x", x, s.steps_x);
  require(kFn, "h", h, s.state);
  require(kFn, "c", c, s.state);
  require(kFn, "w_ih", w_ih, s.w_ih);
  require(kFn, "w_hh", w_hh, s.w_hh);
  require(kFn, "h_new", h_new, s.state);
  require(kFn, "c_new", c_new, s.state);

  std::vector<float> gate_storage(gates ? 0 : static_cast<std::size_t>(s.steps_gates));
  float* pre = gates ? gates : gate_storage.data();
  std::vector<float> bias_storage;
  project_inputs(s, s.B, x, w_ih, combined_bias(b_ih, b_hh, s.G, bias_storage), pre);
  add_recurrent(s, h, w_hh, nullptr, pre);
  gates_forward(s, pre, Rows{c, s.H}, c_new, h_new);
}

void lstm_cell_backward(const LstmParams& p, const float* x, const float* h, const float* c,
                        const float* w_ih, const float* w_hh, const float* gates,
                        const float* c_new, const float* dh_new, const float* dc_new, float* dx,
                        float* dh, float* dc, float* dw_ih, float* dw_hh, float* db) {
  constexpr const char* kFn = "lstm_cell_backward";
  const LstmSizes s = check_sizes(kFn, p, false);
  require(kFn, "x", x, dw_ih ? s.steps_x : 0);
  require(kFn, "h", h, dw_hh ? s.state : 0);
  require(kFn, "c", c, s.state);
  require(kFn, "w_ih", w_ih, dx ? s.w_ih : 0);
  require(kFn, "w_hh", w_hh, dh ? s.w_hh : 0);
  require(kFn, "gates", gates, s.steps_gates);
  require(kFn, "c_new", c_new, s.state);
  require(kFn, "dh_new", dh_new, s.state);

  const std::vector<float> zero_row(static_cast<std::size_t>(s.H), 0.0f);
  std::vector<float> d_pre(static_cast<std::size_t>(s.steps_gates));
  std::vector<float> dc_scratch(dc ? 0 : static_cast<std::size_t>(s.state));
  gates_backward(s, gates, Rows{c, s.H}, c_new, Rows{dh_new, s.H}, Rows{zero_row.data(), 0},
                 rows_or_zeros(dc_new, s.H, zero_row), d_pre.data(),
                 dc ? dc : dc_scratch.data());

  if (dx) gradient_through_weight(s, s.B, s.I, d_pre.data(), w_ih, dx);
  if (dh) gradient_through_weight(s, s.B, s.H, d_pre.data(), w_hh, dh);
  input_weight_gradients(s, s.B, d_pre.data(), x, dw_ih, db);
  if (dw_hh) {
    detail::gemm(s.G, s.H, s.B, 1.0f, transposed(d_pre.data(), s.G), row_major(h, s.H), 0.0f,
                 dw_hh, s.H);
  }
}

void lstm_sequence_forward(const LstmParams& p, const float* x, const float* h0, const float* c0,
                           const float* w_ih, const float* w_hh, const float* b_ih,
                           const float* b_hh, float* y, float* h_n, float* c_n, float* gates,
                           float* cells) {
  constexpr const char* kFn = "lstm_sequence_forward";
  const LstmSizes s = check_sizes(kFn, p, true);
  require(kFn, "x", x, s.steps_x);
  require(kFn, "w_ih", w_ih, s.w_ih);
  require(kFn, "w_hh", w_hh, s.w_hh);
  require(kFn, "y", y, s.steps_state);
  require(kFn, "h_n", h_n, s.state);
  require(kFn, "c_n", c_n, s.state);

  const index_t step_gates = s.B * s.G, step_state = s.state;
  std::vector<float> gate_storage(gates ? 0 : static_cast<std::size_t>(s.steps_gates));
  float* all_gates = gates ? gates : gate_storage.data();
  std::vector<float> bias_storage;
  project_inputs(s, s.T * s.B, x, w_ih, combined_bias(b_ih, b_hh, s.G, bias_storage), all_gates);

  // Without `cells`, c_n carries the running cell state, updated in place.
  const std::vector<float> zero_row(static_cast<std::size_t>(s.H), 0.0f);
  const std::unique_ptr<detail::PackedB> packed_w_hh = pack_for_steps(s, s.H, s.G,
                                                                      transposed_weight(w_hh, s.H));
  for (index_t t = 0; t < s.T; ++t) {
    float* pre = all_gates + t * step_gates;
    const float* h_prev = t == 0 ? h0 : y + (t - 1) * step_state;
    if (h_prev) add_recurrent(s, h_prev, w_hh, packed_w_hh.get(), pre);  // a null h0 adds zero
    const float* c_prev = t == 0 ? c0 : (cells ? cells + (t - 1) * step_state : c_n);
    float* c_out = cells ? cells + t * step_state : c_n;
    gates_forward(s, pre, rows_or_zeros(c_prev, s.H, zero_row), c_out, y + t * step_state);
  }

  const float* h_last = s.T > 0 ? y + (s.T - 1) * step_state : h0;
  const float* c_last = s.T > 0 ? (cells ? cells + (s.T - 1) * step_state : c_n) : c0;
  if (h_last) {
    std::copy(h_last, h_last + step_state, h_n);
  } else {
    std::fill(h_n, h_n + step_state, 0.0f);
  }
  if (!c_last) {
    std::fill(c_n, c_n + step_state, 0.0f);
  } else if (c_last != c_n) {
    std::copy(c_last, c_last + step_state, c_n);
  }
}

void lstm_sequence_backward(const LstmParams& p, const float* x, const float* h0, const float* c0,
                            const float* w_ih, const float* w_hh, const float* y,
                            const float* gates, const float* cells, const float* dy,
                            const float* dh_n, const float* dc_n, float* dx, float* dh0,
                            float* dc0, float* dw_ih, float* dw_hh, float* db) {
  constexpr const char* kFn = "lstm_sequence_backward";
  const LstmSizes s = check_sizes(kFn, p, true);
  require(kFn, "x", x, dw_ih ? s.steps_x : 0);
  require(kFn, "w_ih", w_ih, dx ? s.w_ih : 0);
  require(kFn, "w_hh", w_hh, s.w_hh);
  require(kFn, "y", y, dw_hh ? s.steps_state : 0);
  require(kFn, "gates", gates, s.steps_gates);
  require(kFn, "cells", cells, s.steps_state);

  const index_t step_gates = s.B * s.G, step_state = s.state;
  const std::vector<float> zero_row(static_cast<std::size_t>(s.H), 0.0f);
  std::vector<float> d_pre(static_cast<std::size_t>(s.steps_gates));
  // The gradients flowing back into h_t and c_t from later steps (from dh_n, dc_n at T).
  std::vector<float> dh_next(static_cast<std::size_t>(step_state), 0.0f);
  std::vector<float> dc_next(static_cast<std::size_t>(step_state), 0.0f);
  if (dh_n) std::copy(dh_n, dh_n + step_state, dh_next.begin());
  if (dc_n) std::copy(dc_n, dc_n + step_state, dc_next.begin());

  const std::unique_ptr<detail::PackedB> packed_w_hh = pack_for_steps(s, s.G, s.H,
                                                                      row_major(w_hh, s.H));
  for (index_t t = s.T - 1; t >= 0; --t) {
    const float* c_prev = t > 0 ? cells + (t - 1) * step_state : c0;
    const Rows dy_t = rows_or_zeros(dy ? dy + t * step_state : nullptr, s.H, zero_row);
    float* d_pre_t = d_pre.data() + t * step_gates;
    gates_backward(s, gates + t * step_gates, rows_or_zeros(c_prev, s.H, zero_row),
                   cells + t * step_state, Rows{dh_next.data(), s.H}, dy_t,
                   Rows{dc_next.data(), s.H}, d_pre_t, dc_next.data());
    float* dh_prev = t > 0 ? dh_next.data() : dh0;
    if (dh_prev && packed_w_hh) {
      detail::gemm_packed_b(s.B, 1.0f, row_major(d_pre_t, s.G), *packed_w_hh, 0.0f, dh_prev, s.H);
    } else if (dh_prev) {
      gradient_through_weight(s, s.B, s.H, d_pre_t, w_hh, dh_prev);
    }
  }
  if (dh0 && s.T == 0) std::copy(dh_next.begin(), dh_next.end(), dh0);
  if (dc0) std::copy(dc_next.begin(), dc_next.end(), dc0);

  const index_t rows = s.T * s.B;
  if (dx) gradient_through_weight(s, rows, s.I, d_pre.data(), w_ih, dx);
  input_weight_gradients(s, rows, d_pre.data(), x, dw_ih, db);
  if (dw_hh) {
    // Step t > 0 pairs its gate gradients with y[t-1]: both are contiguous, so one GEMM
    // covers steps 1..T-1 without copying the hiddens; step 0 pairs with h0 (zero if null).
    const index_t shifted_rows = s.T > 0 ? (s.T - 1) * s.B : 0;
    const float* d_pre_from_step1 = s.T > 0 ? d_pre.data() + step_gates : d_pre.data();
    detail::gemm(s.G, s.H, shifted_rows, 1.0f, transposed(d_pre_from_step1, s.G),
                 row_major(y, s.H), 0.0f, dw_hh, s.H);
    if (h0 && s.T > 0) {
      detail::gemm(s.G, s.H, s.B, 1.0f, transposed(d_pre.data(), s.G), row_major(h0, s.H), 1.0f,
                   dw_hh, s.H);
    }
  }
}

}  // namespace kiln
