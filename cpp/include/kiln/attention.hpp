// kiln: scaled-dot-product attention, one memory-efficient (flash-attention style) kernel.
//
//   q is (BH, Tq, D), k is (BH, Tk, D), v is (BH, Tk, Dv)  (BH: batch x heads, folded)
//   out is (BH, Tq, Dv), logsumexp is (BH, Tq)
//
//   out[b, i] = sum_j softmax_j(scale * q[b, i] . k[b, j]) v[b, j], over the keys j that query i
//   sees: all of them, or with causal j <= i (torch's is_causal: the top-left aligned lower
//   triangle, also for Tq != Tk); logsumexp[b, i] = log sum_j exp(scale * q[b, i] . k[b, j]).
//
// The score matrix is never held whole: queries are taken kAttentionQueryTile at a time
// against kAttentionKeyTile keys at a time with a running max and sum (online softmax);
// causal tiles wholly above the diagonal are skipped. The backward recomputes each tile's
// probabilities from logsumexp. Working memory per thread is attention_workspace_floats(p),
// independent of Tq and Tk. Results do not depend on the thread count.
//
// All tensors are dense and C-contiguous float32.
#pragma once

#include "kiln/common.hpp"

namespace kiln {

constexpr index_t kAttentionQueryTile = 32;
constexpr index_t kAttentionKeyTile = 64;

struct AttentionParams {
  index_t batch_heads = 0, tq = 0, tk = 0, d = 0, dv = 0;
  bool causal = false;
  float scale = 1.0f;
};

// Throw std::invalid_argument unless p is valid (sizes >= 1, D and Dv >= 1, every operand
// within kMaxElements, a finite scale). Each kernel below checks this itself.
void attention_check(const AttentionParams& p);

// The floats of scratch one thread uses (forward or backward, whichever is larger): a
// function of the tiles, D and Dv alone.
index_t attention_workspace_floats(const AttentionParams& p);

void attention_forward(const AttentionParams& p, const float* q, const float* k, const float* v,
                       float* out, float* logsumexp);

// dq (BH, Tq, D), dk (BH, Tk, D), dv (BH, Tk, Dv) from dout (BH, Tq, Dv) and the forward's
// out and logsumexp: with P = exp(scale * q k^T - logsumexp) and delta = rowsum(dout * out),
// dv = P^T dout, dS = P * (dout v^T - delta), dq = scale * dS k, dk = scale * dS^T q.
void attention_backward(const AttentionParams& p, const float* dout, const float* q,
                        const float* k, const float* v, const float* out,
                        const float* logsumexp, float* dq, float* dk, float* dv);

}  // namespace kiln
