// Scaled-dot-product attention on the CPU, forward and backward (kiln/attention.hpp).
//
// One work item is (batch-head, tile): the forward and dq take a tile of kAttentionQueryTile
// queries and walk the key tiles; dk/dv take a tile of kAttentionKeyTile keys and walk the
// query rows. Each item is computed by one thread from its inputs alone, so results are the
// same for any thread count. Within a tile every inner loop runs along a contiguous row
// (keys of a transposed K or V tile, or D / Dv of one row), so the compiler vectorizes it
// without reordering a sum: those loops are attention_tile.hpp's, compiled per ISA and
// chosen in dispatch.cpp; the exponentials are the dispatched SIMD exp_shifted_sum.
// Causal rows see a prefix of each tile (n_visible), so no -inf is ever stored.
#include "kiln/attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "attention_tile_impl.hpp"
#include "check.hpp"
#include "dispatch.hpp"
#include "parallel.hpp"

namespace kiln {

namespace detail {
AttentionTileKernels attention_tile_kernels_portable() {
  return {&attention_scores, &attention_combine, &attention_rank1};
}
}  // namespace detail

namespace {

constexpr index_t kBq = kAttentionQueryTile, kBk = kAttentionKeyTile;

// Keys of the tile starting at j0 (bk of them) that query i sees.
inline index_t n_visible(const AttentionParams& p, index_t i, index_t j0, index_t bk) {
  if (!p.causal) return bk;
  return std::clamp<index_t>(i - j0 + 1, 0, bk);
}

// dst[c][jj] = src[jj][c] for a tile of rows rows x cols (dst rows are kBk long).
inline void transpose_tile(const float* src, index_t rows, index_t cols, float* dst) {
  for (index_t jj = 0; jj < rows; ++jj)
    for (index_t c = 0; c < cols; ++c) dst[c * kBk + jj] = src[jj * cols + c];
}

// Items [0, items) over threads, each share with `floats` of its own scratch.
template <typename Body>
void for_items(index_t items, double flops, index_t floats, Body&& body) {
  const int nthreads = static_cast<int>(std::min<index_t>(detail::threads_for(flops), items));
  detail::parallel(std::max(nthreads, 1), [&](int share, int n) {
    index_t begin, end;
    detail::split_range(items, share, n, 1, begin, end);
    if (begin == end) return;
    std::vector<float> scratch(static_cast<std::size_t>(floats));
    for (index_t item = begin; item < end; ++item) body(item, scratch.data());
  });
}

index_t tiles(index_t n, index_t tile) { return (n + tile - 1) / tile; }

// Forward scratch: K^T tile (D x kBk), one score row (kBk), the running output rows
// (kBq x Dv), their max and sum (kBq each).
index_t forward_floats(const AttentionParams& p) { return p.d * kBk + kBk + kBq * p.dv + 2 * kBq; }
// dq scratch: K^T and V^T tiles, score and dP rows; dk/dv scratch: the same plus the
// tile's dk and dv accumulators.
index_t backward_floats(const AttentionParams& p) {
  return (p.d + p.dv) * kBk + 2 * kBk + kBk * (p.d + p.dv);
}

double pair_flops(const AttentionParams& p) {
  return 2.0 * static_cast<double>(p.batch_heads) * static_cast<double>(p.tq) *
         static_cast<double>(p.tk) * static_cast<double>(p.d + p.dv);
}

}  // namespace

void attention_check(const AttentionParams& p) {
  constexpr const char* fn = "scaled_dot_product_attention";
  KILN_CHECK(p.batch_heads >= 1 && p.tq >= 1 && p.tk >= 1 && p.d >= 1 && p.dv >= 1,
             fn << ": every size must be positive, got batch*heads=" << p.batch_heads << ", Tq="
                << p.tq << ", Tk=" << p.tk << ", D=" << p.d << ", Dv=" << p.dv);
  KILN_CHECK(std::isfinite(p.scale), fn << ": scale must be finite, got " << p.scale);
  detail::checked_size(fn, "q", p.batch_heads, p.tq, p.d);
  detail::checked_size(fn, "k", p.batch_heads, p.tk, p.d);
  detail::checked_size(fn, "v", p.batch_heads, p.tk, p.dv);
  detail::checked_size(fn, "out", p.batch_heads, p.tq, p.dv);
}

index_t attention_workspace_floats(const AttentionParams& p) {
  return std::max(forward_floats(p), backward_floats(p));
}

void attention_forward(const AttentionParams& p, const float* q, const float* k, const float* v,
                       float* out, float* logsumexp) {
  attention_check(p);
  const auto& pw = detail::cpu_kernels().pointwise;
  const auto& tk = detail::cpu_kernels().attention;
  const index_t q_tiles = tiles(p.tq, kBq), d = p.d, dv = p.dv;
  for_items(p.batch_heads * q_tiles, pair_flops(p), forward_floats(p), [&](index_t item, float* ws) {
    const index_t b = item / q_tiles, i0 = (item % q_tiles) * kBq, bq = std::min(kBq, p.tq - i0);
    float* kt = ws;
    float* s = kt + d * kBk;
    float* acc = s + kBk;
    float* m = acc + kBq * dv;
    float* l = m + kBq;
    std::fill(acc, acc + bq * dv, 0.0f);
    std::fill(m, m + bq, -std::numeric_limits<float>::infinity());
    std::fill(l, l + bq, 0.0f);
    const float* qb = q + (b * p.tq + i0) * d;
    const float* kb = k + b * p.tk * d;
    const float* vb = v + b * p.tk * dv;
    // Causal: key tiles starting after the tile's last query are skipped.
    const index_t key_end = p.causal ? std::min(p.tk, i0 + bq) : p.tk;
    for (index_t j0 = 0; j0 < key_end; j0 += kBk) {
      const index_t bk = std::min(kBk, p.tk - j0);
      transpose_tile(kb + j0 * d, bk, d, kt);
      for (index_t ii = 0; ii < bq; ++ii) {
        const index_t n = n_visible(p, i0 + ii, j0, bk);
        if (n == 0) continue;
        tk.scores(qb + ii * d, kt, d, n, p.scale, s);
        const float m_new = std::max(m[ii], pw.row_max(s, n));
        const float correction = std::exp(m[ii] - m_new);  // 0 on the first tile
        l[ii] = l[ii] * correction + pw.exp_shifted_sum(s, n, m_new, s);
        m[ii] = m_new;
        float* acc_row = acc + ii * dv;
        if (correction != 1.0f)
          for (index_t c = 0; c < dv; ++c) acc_row[c] *= correction;
        tk.combine(n, s, vb + j0 * dv, dv, acc_row);
      }
    }
    for (index_t ii = 0; ii < bq; ++ii) {
      const float inv = 1.0f / l[ii];
      float* o = out + (b * p.tq + i0 + ii) * dv;
      for (index_t c = 0; c < dv; ++c) o[c] = acc[ii * dv + c] * inv;
      logsumexp[b * p.tq + i0 + ii] = m[ii] + std::log(l[ii]);
    }
  });
}

void attention_backward(const AttentionParams& p, const float* dout, const float* q,
                        const float* k, const float* v, const float* out,
                        const float* logsumexp, float* dq, float* dk, float* dv) {
  attention_check(p);
  const auto& pw = detail::cpu_kernels().pointwise;
  const auto& tk = detail::cpu_kernels().attention;
  const index_t d = p.d, dvn = p.dv, rows = p.batch_heads * p.tq;
  // delta = rowsum(dout * out): O(T) memory, shared by both passes.
  std::vector<float> delta(static_cast<std::size_t>(rows));
  detail::parallel_for(rows, detail::threads_for(2.0 * rows * dvn), [&](index_t r) {
    float total = 0.0f;
    for (index_t c = 0; c < dvn; ++c) total += dout[r * dvn + c] * out[r * dvn + c];
    delta[r] = total;
  });

  // The probabilities and dS of row i against one key tile (kt, vt transposed tiles):
  // s[:n] = P, dp[:n] = dS.
  auto tile_row = [&](index_t b, index_t i, index_t n, const float* kt, const float* vt, float* s,
                      float* dp) {
    const index_t r = b * p.tq + i;
    tk.scores(q + r * d, kt, d, n, p.scale, s);
    pw.exp_shifted_sum(s, n, logsumexp[r], s);
    tk.scores(dout + r * dvn, vt, dvn, n, 1.0f, dp);
    const float dl = delta[r];
    for (index_t jj = 0; jj < n; ++jj) dp[jj] = s[jj] * (dp[jj] - dl);
  };

  // dk, dv: one item per (batch-head, key tile), walking the query rows that see it.
  const index_t k_tiles = tiles(p.tk, kBk);
  for_items(p.batch_heads * k_tiles, 2.0 * pair_flops(p), backward_floats(p), [&](index_t item, float* ws) {
    const index_t b = item / k_tiles, j0 = (item % k_tiles) * kBk, bk = std::min(kBk, p.tk - j0);
    float* kt = ws;
    float* vt = kt + d * kBk;
    float* s = vt + dvn * kBk;
    float* dp = s + kBk;
    float* dk_acc = dp + kBk;
    float* dv_acc = dk_acc + kBk * d;
    transpose_tile(k + (b * p.tk + j0) * d, bk, d, kt);
    transpose_tile(v + (b * p.tk + j0) * dvn, bk, dvn, vt);
    std::fill(dk_acc, dk_acc + bk * d, 0.0f);
    std::fill(dv_acc, dv_acc + bk * dvn, 0.0f);
    for (index_t i = p.causal ? j0 : 0; i < p.tq; ++i) {
      const index_t n = n_visible(p, i, j0, bk), r = b * p.tq + i;
      tile_row(b, i, n, kt, vt, s, dp);
      tk.rank1(n, s, 1.0f, dout + r * dvn, dvn, dv_acc);
      tk.rank1(n, dp, p.scale, q + r * d, d, dk_acc);
    }
    std::copy(dk_acc, dk_acc + bk * d, dk + (b * p.tk + j0) * d);
    std::copy(dv_acc, dv_acc + bk * dvn, dv + (b * p.tk + j0) * dvn);
  });

  // dq: one item per (batch-head, query tile), walking the key tiles it sees.
  const index_t q_tiles = tiles(p.tq, kBq);
  for_items(p.batch_heads * q_tiles, 1.5 * pair_flops(p), backward_floats(p), [&](index_t item, float* ws) {
    const index_t b = item / q_tiles, i0 = (item % q_tiles) * kBq, bq = std::min(kBq, p.tq - i0);
    float* kt = ws;
    float* vt = kt + d * kBk;
    float* s = vt + dvn * kBk;
    float* dp = s + kBk;
    float* dq_rows = dq + (b * p.tq + i0) * d;
    std::fill(dq_rows, dq_rows + bq * d, 0.0f);
    const index_t key_end = p.causal ? std::min(p.tk, i0 + bq) : p.tk;
    for (index_t j0 = 0; j0 < key_end; j0 += kBk) {
      const index_t bk = std::min(kBk, p.tk - j0);
      const float* kb = k + (b * p.tk + j0) * d;
      transpose_tile(kb, bk, d, kt);
      transpose_tile(v + (b * p.tk + j0) * dvn, bk, dvn, vt);
      for (index_t ii = 0; ii < bq; ++ii) {
        const index_t n = n_visible(p, i0 + ii, j0, bk);
        if (n == 0) continue;
        tile_row(b, i0 + ii, n, kt, vt, s, dp);
        for (index_t jj = 0; jj < n; ++jj) dp[jj] *= p.scale;
        tk.combine(n, dp, kb, d, dq_rows + ii * d);
      }
    }
  });
}

}  // namespace kiln
