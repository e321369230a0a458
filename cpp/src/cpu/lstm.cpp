// LSTM forward and backward on the GEMM engine.
//
// Every product with a weight matrix is a detail::gemm call reading W (4H, K) through
// strides, so W^T needs no copy. A step of the forward is one GEMM against weights packed
// with the four gates of every 16 units side by side (i, f, g, o; 64 columns), whose
// epilogue runs the gate nonlinearities and the cell update (lstm_gates.hpp) on each
// block of rows x 64 columns as soon as it is final, while it is in L1: the
// pre-activations never make a round trip through memory. The cell multiplies [x h] by
// [W_ih W_hh]^T in one GEMM, its weights packed once per version (LstmPackedWeights) or
// per call; a sequence projects the inputs of all T steps in one (T*B x 4H) GEMM with
// both biases fused into its epilogue, and each step's recurrent GEMM against W_hh
// (packed once per sequence) adds that projection in its gate pass. Backward: the
// per-step fused pass fills a (T, B, 4H) buffer of gate gradients and one GEMM against
// the packed W_hh carries dh back a step; then dW_ih and dx are each one GEMM over all steps, and dW_hh one GEMM
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
#include "workspace.hpp"

namespace kiln {
namespace {

using detail::StridedMatrix;

// Rough flops of one hidden unit of the pointwise passes (four to five transcendentals).
constexpr double kPointwiseFlopsPerUnit = 50.0;

// A call's large temporaries, kept per calling thread between calls (workspace.hpp): fresh
// ones faulted in a sequence backward's 27 MB (its packed W_hh and gate gradients, H=1024) page
// by page on every call, a third of its time.
struct LstmWorkspace;
enum LstmSlot { kPanels, kGateBuffer, kStepOut, kStepIn, kSlotCount };
float* workspace(LstmSlot slot, index_t floats) {
  return detail::thread_workspace<LstmWorkspace, kSlotCount>(slot, floats);
}

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

// The recurrent weights of the backward, packed once for the GEMM of every step: B (k, n)
// read through `b`, into the workspace. Null for a single step, where gemm() packs as it goes
// at no extra cost.
std::unique_ptr<detail::PackedB> pack_for_steps(const LstmSizes& s, index_t k, index_t n,
                                                StridedMatrix b) {
  if (s.T < 2 || s.B == 0) return nullptr;
  return std::make_unique<detail::PackedB>(k, n, b,
                                           workspace(kPanels, detail::PackedB::panel_floats(k, n)));
}

// The forward's packed weights hold the gates of kGateGroup units side by side: packed
// column j is gate j % 64 / 16 of unit j / 64 * 16 + j % 16 (the zero column past H).
constexpr index_t kGateGroup = 16;
constexpr index_t kGroupColumns = 4 * kGateGroup;

index_t packed_gate_columns(index_t H) {
  return (H + kGateGroup - 1) / kGateGroup * kGroupColumns;
}

// Packed column -> the row of W (4H, k) it holds, -1 past the last unit.
std::vector<index_t> interleaved_gates(index_t H) {
  std::vector<index_t> columns(static_cast<std::size_t>(packed_gate_columns(H)));
  for (index_t j = 0; j < static_cast<index_t>(columns.size()); ++j) {
    const index_t unit = j / kGroupColumns * kGateGroup + j % kGateGroup;
    const index_t gate = j % kGroupColumns / kGateGroup;
    columns[j] = unit < H ? gate * H + unit : -1;
  }
  return columns;
}

// W (4H, k) parts stacked along k, packed with the gates interleaved: into the workspace for
// this call only (in_workspace), or into storage of their own.
std::unique_ptr<detail::PackedB> pack_gates(const char* kernel, const LstmSizes& s,
                                            const std::vector<detail::DepthPart>& parts,
                                            bool in_workspace) {
  index_t k = 0;
  for (const detail::DepthPart& part : parts) k += part.k;
  const index_t np = packed_gate_columns(s.H);
  detail::checked_size(kernel, "the packed weights", np, k);
  float* panels = in_workspace ? workspace(kPanels, detail::PackedB::panel_floats(k, np)) : nullptr;
  return std::make_unique<detail::PackedB>(np, parts, interleaved_gates(s.H), panels);
}

// What one step's gate pass reads besides the GEMM's result, and writes (lstm_gates.hpp):
// addend rows in the (B, 4H) layout (the bias, row stride 0; a sequence's input
// projection; data null: none), the activated gates in that layout (null: not kept),
// c_prev -> c_out and h_out (B, H).
struct StepIo {
  Rows addend;
  float* gates;
  Rows c_prev;
  float* c_out;
  float* h_out;
};

// The gate pass over rows [row0, row0 + rows) and packed columns [col0, col0 + cols) of
// the pre-activations pre (row stride ldp, gates interleaved).
void gate_block(const LstmSizes& s, const float* pre, index_t ldp, const StepIo& io,
                index_t row0, index_t rows, index_t col0, index_t cols) {
  const detail::LstmGatesForward kernel = detail::cpu_kernels().lstm_gates.forward;
  for (index_t r = row0; r < row0 + rows; ++r) {
    for (index_t col = col0; col < col0 + cols; col += kGroupColumns) {
      const index_t u = col / kGroupColumns * kGateGroup, n = std::min(kGateGroup, s.H - u);
      kernel(n, {pre + r * ldp + col, kGateGroup, io.addend.data ? io.addend.row(r) + u : nullptr,
                 s.H, io.gates ? io.gates + r * s.G + u : nullptr, s.H, io.c_prev.row(r) + u,
                 io.c_out + r * s.H + u, io.h_out + r * s.H + u});
    }
  }
}

// One forward step: scratch (B, packed columns) = a (B, k) @ w, each block run through
// the gate pass as soon as the GEMM has finished it.
void fused_step(const LstmSizes& s, StridedMatrix a, const detail::PackedB& w, float* scratch,
                const StepIo& io) {
  const index_t ldp = w.n();
  const detail::BlockEpilogue epilogue{
      kGroupColumns, [&](index_t row0, index_t rows, index_t col0, index_t cols) {
        gate_block(s, scratch, ldp, io, row0, rows, col0, cols);
      }};
  detail::gemm_packed_b(s.B, 1.0f, a, w, 0.0f, scratch, ldp, 0, &epilogue);
}

// A step without a recurrent product (a sequence's first, from h0 = 0): the gate pass alone.
void gates_only(const LstmSizes& s, const StepIo& io) {
  const index_t np = packed_gate_columns(s.H);
  const std::vector<float> zeros(static_cast<std::size_t>(np), 0.0f);
  const int nthreads = detail::threads_for(kPointwiseFlopsPerUnit * s.B * s.H);
  detail::parallel_for(s.B, nthreads, [&](index_t r) { gate_block(s, zeros.data(), 0, io, r, 1, 0, np); });
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

// The cell's [W_ih W_hh]^T, stacked along k.
std::vector<detail::DepthPart> cell_weights(const LstmSizes& s, const float* w_ih, const float* w_hh) {
  return {{transposed_weight(w_ih, s.I), s.I}, {transposed_weight(w_hh, s.H), s.H}};
}

void require_cell_operands(const char* kernel, const LstmSizes& s, const float* x, const float* h,
                           const float* c, const float* h_new, const float* c_new) {
  require(kernel, "x", x, s.steps_x);
  require(kernel, "h", h, s.state);
  require(kernel, "c", c, s.state);
  require(kernel, "h_new", h_new, s.state);
  require(kernel, "c_new", c_new, s.state);
}

// One cell step against the packed [W_ih W_hh]^T: [x h] side by side is the GEMM's A, one
// product over k = I + H.
void cell_step(const LstmSizes& s, const detail::PackedB& w, const float* x, const float* h,
               const float* c, const float* b_ih, const float* b_hh, float* h_new, float* c_new,
               float* gates) {
  const index_t k = s.I + s.H;
  float* xh = workspace(kStepIn, s.B * k);
  for (index_t b = 0; b < s.B; ++b) {
    std::copy(x + b * s.I, x + (b + 1) * s.I, xh + b * k);
    std::copy(h + b * s.H, h + (b + 1) * s.H, xh + b * k + s.I);
  }
  std::vector<float> bias_storage;
  const float* bias = combined_bias(b_ih, b_hh, s.G, bias_storage);
  fused_step(s, row_major(xh, k), w, workspace(kStepOut, s.B * w.n()),
             {Rows{bias, 0}, gates, Rows{c, s.H}, c_new, h_new});
}

}  // namespace

LstmPackedWeights::LstmPackedWeights(const LstmParams& p, const float* w_ih, const float* w_hh)
    : input_size_(p.input_size), hidden_size_(p.hidden_size) {
  constexpr const char* kFn = "lstm_pack_weights";
  const LstmSizes s = check_sizes(kFn, {0, p.input_size, p.hidden_size, 1}, false);
  require(kFn, "w_ih", w_ih, s.w_ih);
  require(kFn, "w_hh", w_hh, s.w_hh);
  panels_ = pack_gates(kFn, s, cell_weights(s, w_ih, w_hh), false);
}

LstmPackedWeights::~LstmPackedWeights() = default;

void lstm_cell_forward(const LstmParams& p, const LstmPackedWeights& w, const float* x,
                       const float* h, const float* c, const float* b_ih, const float* b_hh,
                       float* h_new, float* c_new, float* gates) {
  constexpr const char* kFn = "lstm_cell_forward";
  const LstmSizes s = check_sizes(kFn, p, false);
  KILN_CHECK(w.input_size() == s.I && w.hidden_size() == s.H,
             kFn << ": the packed weights are for input_size=" << w.input_size() << " hidden_size="
                 << w.hidden_size() << ", not " << s.I << " and " << s.H);
  require_cell_operands(kFn, s, x, h, c, h_new, c_new);
  if (s.B == 0 || s.H == 0) return;
  cell_step(s, w.panels(), x, h, c, b_ih, b_hh, h_new, c_new, gates);
}

void lstm_cell_forward(const LstmParams& p, const float* x, const float* h, const float* c,
                       const float* w_ih, const float* w_hh, const float* b_ih, const float* b_hh,
                       float* h_new, float* c_new, float* gates) {
  constexpr const char* kFn = "lstm_cell_forward";
  const LstmSizes s = check_sizes(kFn, p, false);
  require(kFn, "w_ih", w_ih, s.w_ih);
  require(kFn, "w_hh", w_hh, s.w_hh);
  require_cell_operands(kFn, s, x, h, c, h_new, c_new);
  if (s.B == 0 || s.H == 0) return;
  const std::unique_ptr<detail::PackedB> panels = pack_gates(kFn, s, cell_weights(s, w_ih, w_hh), true);
  cell_step(s, *panels, x, h, c, b_ih, b_hh, h_new, c_new, gates);
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
  float* d_pre = workspace(kGateBuffer, s.steps_gates);
  std::vector<float> dc_scratch(dc ? 0 : static_cast<std::size_t>(s.state));
  gates_backward(s, gates, Rows{c, s.H}, c_new, Rows{dh_new, s.H}, Rows{zero_row.data(), 0},
                 rows_or_zeros(dc_new, s.H, zero_row), d_pre, dc ? dc : dc_scratch.data());

  if (dx) gradient_through_weight(s, s.B, s.I, d_pre, w_ih, dx);
  if (dh) gradient_through_weight(s, s.B, s.H, d_pre, w_hh, dh);
  input_weight_gradients(s, s.B, d_pre, x, dw_ih, db);
  if (dw_hh) {
    detail::gemm(s.G, s.H, s.B, 1.0f, transposed(d_pre, s.G), row_major(h, s.H), 0.0f, dw_hh, s.H);
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
  float* all_gates = gates ? gates : workspace(kGateBuffer, s.steps_gates);
  std::vector<float> bias_storage;
  project_inputs(s, s.T * s.B, x, w_ih, combined_bias(b_ih, b_hh, s.G, bias_storage), all_gates);

  // Without `cells`, c_n carries the running cell state, updated in place. Each step's
  // gate pass adds the input projection to the recurrent product and leaves the
  // activated gates in its place.
  const std::vector<float> zero_row(static_cast<std::size_t>(s.H), 0.0f);
  std::unique_ptr<detail::PackedB> packed_w_hh;
  float* scratch = nullptr;
  if (s.T > 0 && s.B > 0) {
    packed_w_hh = pack_gates(kFn, s, {{transposed_weight(w_hh, s.H), s.H}}, true);
    scratch = workspace(kStepOut, s.B * packed_w_hh->n());
  }
  for (index_t t = 0; t < (s.B > 0 ? s.T : 0); ++t) {
    float* pre = all_gates + t * step_gates;
    const float* h_prev = t == 0 ? h0 : y + (t - 1) * step_state;
    const float* c_prev = t == 0 ? c0 : (cells ? cells + (t - 1) * step_state : c_n);
    float* c_out = cells ? cells + t * step_state : c_n;
    const StepIo io{Rows{pre, s.G}, pre, rows_or_zeros(c_prev, s.H, zero_row), c_out,
                    y + t * step_state};
    if (h_prev) {
      fused_step(s, row_major(h_prev, s.H), *packed_w_hh, scratch, io);
    } else {
      gates_only(s, io);  // a null h0 adds zero
    }
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
  float* d_pre = workspace(kGateBuffer, s.steps_gates);
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
    float* d_pre_t = d_pre + t * step_gates;
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
  if (dx) gradient_through_weight(s, rows, s.I, d_pre, w_ih, dx);
  input_weight_gradients(s, rows, d_pre, x, dw_ih, db);
  if (dw_hh) {
    // Step t > 0 pairs its gate gradients with y[t-1]: both are contiguous, so one GEMM
    // covers steps 1..T-1 without copying the hiddens; step 0 pairs with h0 (zero if null).
    const index_t shifted_rows = s.T > 0 ? (s.T - 1) * s.B : 0;
    const float* d_pre_from_step1 = s.T > 0 ? d_pre + step_gates : d_pre;
    detail::gemm(s.G, s.H, shifted_rows, 1.0f, transposed(d_pre_from_step1, s.G),
                 row_major(y, s.H), 0.0f, dw_hh, s.H);
    if (h0 && s.T > 0) {
      detail::gemm(s.G, s.H, s.B, 1.0f, transposed(d_pre, s.G), row_major(h0, s.H), 1.0f,
                   dw_hh, s.H);
    }
  }
}

}  // namespace kiln
