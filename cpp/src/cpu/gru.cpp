// GRU forward and backward on the GEMM engine, in the LSTM's structure (lstm.cpp).
//
// A sequence projects the inputs of all T steps in one (T*B x 3H) GEMM with b_ih fused in
// its epilogue, written into the first three chunks of each step's (B, 4H) gate rows (ldc
// 4H, so no separate buffer). Each step then runs one recurrent GEMM hg = h @ W_hh^T + b_hh
// against W_hh packed once per sequence (the bias is the GEMM's starting C, beta = 1) and
// one fused vectorised pass (gru_gates.hpp) that turns the gate rows into r, z, n, hn and
// writes h_t. hg_n cannot be added into the input projection as the LSTM does, because r
// multiplies it alone. Backward: the per-step fused pass writes the gradients of both
// projections (d_x, d_h: (T, B, 3H) each) and dh z; one GEMM against the packed W_hh adds
// d_h @ W_hh to carry dh back a step; then dx, dW_ih, dW_hh are each one GEMM over all steps
// and the bias gradients column sums. A cell is a sequence of one step.
//
// Results do not depend on the thread count (as lstm.cpp's).
#include "kiln/gru.hpp"

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

constexpr double kPointwiseFlopsPerUnit = 40.0;
constexpr index_t kGateSpan = 512;  // a multiple of 16 (gru_gates.hpp)

struct GruSizes {
  index_t B, I, H, G3, G4, T;  // G3 = 3H (a projection's width), G4 = 4H (the saved gates)
  index_t steps_x, state, steps_state, steps_gates, steps_proj, w_ih, w_hh;
};

GruSizes check_sizes(const char* kernel, const GruParams& p, bool sequence) {
  KILN_CHECK(p.batch >= 0 && p.input_size >= 0 && p.hidden_size >= 0 && (!sequence || p.seq_len >= 0),
             kernel << ": sizes must be >= 0, got batch=" << p.batch << " input_size=" << p.input_size
                    << " hidden_size=" << p.hidden_size << (sequence ? " seq_len=" : "")
                    << (sequence ? p.seq_len : 1));
  GruSizes s;
  s.B = p.batch;
  s.I = p.input_size;
  s.H = p.hidden_size;
  s.T = sequence ? p.seq_len : 1;
  s.G3 = detail::checked_size(kernel, "a projection (3 * hidden_size wide)", 3, s.H);
  s.G4 = detail::checked_size(kernel, "the gates (4 * hidden_size wide)", 4, s.H);
  s.steps_x = detail::checked_size(kernel, "x", s.T, s.B, s.I);
  s.state = detail::checked_size(kernel, "the hidden state", s.B, s.H);
  s.steps_state = detail::checked_size(kernel, "the hidden states of all steps", s.T, s.B, s.H);
  s.steps_gates = detail::checked_size(kernel, "gates", s.T, s.B, s.G4);
  s.steps_proj = detail::checked_size(kernel, "the projections of all steps", s.T, s.B, s.G3);
  s.w_ih = detail::checked_size(kernel, "w_ih", s.G3, s.I);
  s.w_hh = detail::checked_size(kernel, "w_hh", s.G3, s.H);
  return s;
}

void require(const char* kernel, const char* name, const void* data, index_t elements) {
  KILN_CHECK(elements == 0 || data != nullptr,
             kernel << ": " << name << " is null but has " << elements << " elements");
}

// A (rows, H) operand that may be absent (reads as zeros: a zero row with row stride 0).
struct Rows {
  const float* data;
  index_t stride;
  const float* row(index_t r) const { return data + r * stride; }
};

Rows rows_or_zeros(const float* data, index_t H, const std::vector<float>& zero_row) {
  return data ? Rows{data, H} : Rows{zero_row.data(), 0};
}

StridedMatrix transposed_weight(const float* w, index_t k) { return {w, 1, k}; }  // W (3H, k) as W^T
StridedMatrix row_major(const float* m, index_t cols) { return {m, cols, 1}; }
StridedMatrix transposed(const float* m, index_t cols) { return {m, 1, cols}; }

template <class Span>
void for_each_gate_span(const GruSizes& s, const Span& span) {
  const index_t spans_per_row = (s.H + kGateSpan - 1) / kGateSpan, items = s.B * spans_per_row;
  const int nthreads = detail::threads_for(kPointwiseFlopsPerUnit * s.B * s.H);
  detail::parallel_for(items, nthreads, [&](index_t item) {
    const index_t b = item / spans_per_row, j = (item % spans_per_row) * kGateSpan;
    span(b, j, std::min(kGateSpan, s.H - j));
  });
}

// out (cols,) = the column sums of m (rows, cols), each column summed in row order.
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

}  // namespace

void gru_sequence_forward(const GruParams& p, const float* x, const float* h0, const float* w_ih,
                          const float* w_hh, const float* b_ih, const float* b_hh, float* y,
                          float* h_n, float* gates) {
  constexpr const char* kFn = "gru_sequence_forward";
  const GruSizes s = check_sizes(kFn, p, true);
  require(kFn, "x", x, s.steps_x);
  require(kFn, "w_ih", w_ih, s.w_ih);
  require(kFn, "w_hh", w_hh, s.w_hh);
  require(kFn, "y", y, s.steps_state);

  std::vector<float> gate_storage(gates ? 0 : static_cast<std::size_t>(s.steps_gates));
  float* all_gates = gates ? gates : gate_storage.data();
  const detail::GemmEpilogue input_bias{b_ih, b_ih ? detail::BiasAxis::per_column : detail::BiasAxis::none,
                                        Activation::none};
  detail::gemm(s.T * s.B, s.G3, s.I, 1.0f, row_major(x, s.I), transposed_weight(w_ih, s.I), 0.0f, all_gates,
               s.G4, input_bias);

  const std::vector<float> zero_row(static_cast<std::size_t>(s.H), 0.0f);
  std::vector<float> hg(static_cast<std::size_t>(s.B * s.G3));
  std::unique_ptr<detail::PackedB> packed_w_hh;
  if (s.T > 1 && s.B > 0) packed_w_hh = std::make_unique<detail::PackedB>(s.H, s.G3, transposed_weight(w_hh, s.H));
  const detail::GruGatesForward kernel = detail::cpu_kernels().gru_gates.forward;
  for (index_t t = 0; t < s.T; ++t) {
    const float* h_prev = t == 0 ? h0 : y + (t - 1) * s.state;
    // hg starts as b_hh (or zero) and the recurrent product accumulates onto it.
    for (index_t b = 0; b < s.B; ++b) {
      float* row = hg.data() + b * s.G3;
      if (b_hh) {
        std::copy(b_hh, b_hh + s.G3, row);
      } else {
        std::fill(row, row + s.G3, 0.0f);
      }
    }
    if (h_prev && packed_w_hh) {
      detail::gemm_packed_b(s.B, 1.0f, row_major(h_prev, s.H), *packed_w_hh, 1.0f, hg.data(), s.G3);
    } else if (h_prev) {
      detail::gemm(s.B, s.G3, s.H, 1.0f, row_major(h_prev, s.H), transposed_weight(w_hh, s.H), 1.0f, hg.data(),
                   s.G3);
    }
    float* step_gates = all_gates + t * s.B * s.G4;
    const Rows prev = rows_or_zeros(h_prev, s.H, zero_row);
    float* h_out = y + t * s.state;
    for_each_gate_span(s, [&](index_t b, index_t j, index_t n) {
      kernel(n, s.H, {step_gates + b * s.G4 + j, hg.data() + b * s.G3 + j, prev.row(b) + j, h_out + b * s.H + j});
    });
  }
  if (!h_n) return;
  const float* h_last = s.T > 0 ? y + (s.T - 1) * s.state : h0;
  if (h_last) {
    std::copy(h_last, h_last + s.state, h_n);
  } else {
    std::fill(h_n, h_n + s.state, 0.0f);
  }
}

void gru_sequence_backward(const GruParams& p, const float* x, const float* h0, const float* w_ih,
                           const float* w_hh, const float* y, const float* gates, const float* dy,
                           const float* dh_n, float* dx, float* dh0, float* dw_ih, float* dw_hh,
                           float* db_ih, float* db_hh) {
  constexpr const char* kFn = "gru_sequence_backward";
  const GruSizes s = check_sizes(kFn, p, true);
  require(kFn, "x", x, dw_ih ? s.steps_x : 0);
  require(kFn, "w_ih", w_ih, dx ? s.w_ih : 0);
  require(kFn, "w_hh", w_hh, s.w_hh);
  // Step t reads y[t-1] as its h_prev; the last step's output is never read.
  require(kFn, "y", y, s.T > 1 ? (s.T - 1) * s.state : 0);
  require(kFn, "gates", gates, s.steps_gates);

  const std::vector<float> zero_row(static_cast<std::size_t>(s.H), 0.0f);
  std::vector<float> d_x(static_cast<std::size_t>(s.steps_proj)), d_h(static_cast<std::size_t>(s.steps_proj));
  // The gradient reaching h_t from later steps (from dh_n at T).
  std::vector<float> dh_next(static_cast<std::size_t>(s.state), 0.0f);
  if (dh_n) std::copy(dh_n, dh_n + s.state, dh_next.begin());

  std::unique_ptr<detail::PackedB> packed_w_hh;
  if (s.T > 1 && s.B > 0) packed_w_hh = std::make_unique<detail::PackedB>(s.G3, s.H, row_major(w_hh, s.H));
  const detail::GruGatesBackward kernel = detail::cpu_kernels().gru_gates.backward;
  for (index_t t = s.T - 1; t >= 0; --t) {
    const Rows prev = rows_or_zeros(t > 0 ? y + (t - 1) * s.state : h0, s.H, zero_row);
    const Rows dy_t = rows_or_zeros(dy ? dy + t * s.state : nullptr, s.H, zero_row);
    const float* g = gates + t * s.B * s.G4;
    float* dx_t = d_x.data() + t * s.B * s.G3;
    float* dh_t = d_h.data() + t * s.B * s.G3;
    // dh_next becomes dh z in place (each element is read before it is written).
    for_each_gate_span(s, [&](index_t b, index_t j, index_t n) {
      kernel(n, s.H, {g + b * s.G4 + j, prev.row(b) + j, dh_next.data() + b * s.H + j, dy_t.row(b) + j,
                      dx_t + b * s.G3 + j, dh_t + b * s.G3 + j, dh_next.data() + b * s.H + j});
    });
    if (t == 0 && !dh0) break;
    if (packed_w_hh) {
      detail::gemm_packed_b(s.B, 1.0f, row_major(dh_t, s.G3), *packed_w_hh, 1.0f, dh_next.data(), s.H);
    } else {
      detail::gemm(s.B, s.H, s.G3, 1.0f, row_major(dh_t, s.G3), row_major(w_hh, s.H), 1.0f, dh_next.data(), s.H);
    }
  }
  if (dh0) std::copy(dh_next.begin(), dh_next.end(), dh0);

  const index_t rows = s.T * s.B;
  if (dx) detail::gemm(rows, s.I, s.G3, 1.0f, row_major(d_x.data(), s.G3), row_major(w_ih, s.I), 0.0f, dx, s.I);
  if (dw_ih) {
    detail::gemm(s.G3, s.I, rows, 1.0f, transposed(d_x.data(), s.G3), row_major(x, s.I), 0.0f, dw_ih, s.I);
  }
  if (db_ih) column_sums(rows, s.G3, d_x.data(), db_ih);
  if (db_hh) column_sums(rows, s.G3, d_h.data(), db_hh);
  if (dw_hh) {
    // Step t > 0 pairs its d_h with y[t-1]: one GEMM over steps 1..T-1; step 0 with h0.
    const index_t shifted = s.T > 0 ? (s.T - 1) * s.B : 0;
    const float* from_step1 = d_h.data() + (s.T > 0 ? s.B * s.G3 : 0);
    detail::gemm(s.G3, s.H, shifted, 1.0f, transposed(from_step1, s.G3), row_major(y, s.H), 0.0f, dw_hh, s.H);
    if (h0 && s.T > 0) {
      detail::gemm(s.G3, s.H, s.B, 1.0f, transposed(d_h.data(), s.G3), row_major(h0, s.H), 1.0f, dw_hh, s.H);
    }
  }
}

void gru_cell_forward(const GruParams& p, const float* x, const float* h, const float* w_ih,
                      const float* w_hh, const float* b_ih, const float* b_hh, float* h_new,
                      float* gates) {
  const GruSizes s = check_sizes("gru_cell_forward", p, false);
  require("gru_cell_forward", "h", h, s.state);
  require("gru_cell_forward", "h_new", h_new, s.state);
  gru_sequence_forward(GruParams{p.batch, p.input_size, p.hidden_size, 1}, x, h, w_ih, w_hh, b_ih, b_hh, h_new,
                       nullptr, gates);
}

void gru_cell_backward(const GruParams& p, const float* x, const float* h, const float* w_ih,
                       const float* w_hh, const float* gates, const float* dh_new, float* dx,
                       float* dh, float* dw_ih, float* dw_hh, float* db_ih, float* db_hh) {
  const GruSizes s = check_sizes("gru_cell_backward", p, false);
  require("gru_cell_backward", "h", h, s.state);
  require("gru_cell_backward", "dh_new", dh_new, s.state);
  gru_sequence_backward(GruParams{p.batch, p.input_size, p.hidden_size, 1}, x, h, w_ih, w_hh, nullptr, gates,
                        dh_new, nullptr, dx, dh, dw_ih, dw_hh, db_ih, db_hh);
}

}  // namespace kiln
