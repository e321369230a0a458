// kiln CUDA: scaled-dot-product attention, forward and backward (kiln/cuda/attention.hpp).
//
// Forward (flash attention): one block per (batch-head, tile of kQueryTile queries), four
// warps each owning kRowsPerWarp query rows. Key and value tiles of 32 rows are staged in
// shared memory (K's rows padded by one float, so the 32 lanes reading 32 keys hit 32
// banks); lane j scores key j, the row's max and sum are warp shuffles, and the running
// output row lives in registers, a lane holding columns lane, lane+32, ... Causal tiles
// wholly above the diagonal are never loaded.
// Backward (FlashAttention-2): a block per (batch-head, tile of 16 keys) accumulates dk
// and dv over the query chunks that see it; a second kernel, a block per (batch-head,
// tile of 16 queries), accumulates dq over the key tiles. Both recompute the 16 x 16
// probability and dS tile in shared memory from logsumexp and delta = rowsum(dout * out)
// (computed in the block), then each thread owns a fixed set of output elements in
// registers: no atomics, one summation order, deterministic.
#include "kiln/cuda/attention.hpp"

#include <string>

#include "../cpu/check.hpp"
#include "check.hpp"
#include "device_util.cuh"
#include "launch.hpp"
#include "unroll.hpp"

namespace kiln::cuda {
namespace {

using detail::kFullMask;
constexpr int kWarps = 4, kThreads = kWarps * 32;
constexpr int kMaxDim = static_cast<int>(kCudaAttentionMaxDim), kChunks = kMaxDim / 32;
constexpr int kRowsPerWarp = 4, kQueryTile = kWarps * kRowsPerWarp, kKeyTile = 32;
constexpr int kBackTile = 16;                                      // keys and queries, backward
constexpr int kMaxPerThread = kBackTile * kMaxDim / kThreads;      // output elements a thread owns

struct Geometry {
  int tq, tk, d, dv;
  bool causal;
  float scale;
};

Geometry geometry(const AttentionParams& p) {
  return {static_cast<int>(p.tq), static_cast<int>(p.tk), static_cast<int>(p.d),
          static_cast<int>(p.dv), p.causal, p.scale};
}

std::string sizes(const AttentionParams& p) {
  return "batch*heads=" + std::to_string(p.batch_heads) + ", Tq=" + std::to_string(p.tq) +
         ", Tk=" + std::to_string(p.tk) + ", D=" + std::to_string(p.d) + ", Dv=" + std::to_string(p.dv);
}

void check(const AttentionParams& p) {
  attention_check(p);
  KILN_CHECK(p.d <= kCudaAttentionMaxDim && p.dv <= kCudaAttentionMaxDim,
             "scaled_dot_product_attention: the cuda kernel takes D and Dv up to "
                 << kCudaAttentionMaxDim << ", got D=" << p.d << ", Dv=" << p.dv);
  KILN_CHECK(p.batch_heads <= 65535, "scaled_dot_product_attention: the cuda kernel takes at most 65535 "
                                         "batch*heads, got " << p.batch_heads);
}

// rows x cols of global memory (row stride cols) into shared memory (row stride ld), rows past
// `valid` zeroed. Consecutive threads take consecutive elements.
__device__ __forceinline__ void stage(const float* __restrict__ src, int rows, int valid, int cols,
                                      int ld, float* dst) {
  for (int e = threadIdx.x; e < rows * cols; e += blockDim.x) {
    const int r = e / cols, c = e - r * cols;
    dst[r * ld + c] = r < valid ? src[r * cols + c] : 0.0f;
  }
}

__global__ void __launch_bounds__(kThreads)
    attention_forward_kernel(Geometry g, const float* __restrict__ q, const float* __restrict__ k,
                             const float* __restrict__ v, float* __restrict__ out, float* __restrict__ lse) {
  KILN_SHARED(float, q_s, [kQueryTile * kMaxDim]);
  KILN_SHARED(float, k_s, [kKeyTile * (kMaxDim + 1)]);
  KILN_SHARED(float, v_s, [kKeyTile * kMaxDim]);
  const int bh = blockIdx.y, i0 = blockIdx.x * kQueryTile;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, ldk = g.d + 1;
  const float* qb = q + (static_cast<index_t>(bh) * g.tq + i0) * g.d;
  const float* kb = k + static_cast<index_t>(bh) * g.tk * g.d;
  const float* vb = v + static_cast<index_t>(bh) * g.tk * g.dv;
  stage(qb, kQueryTile, min(kQueryTile, g.tq - i0), g.d, g.d, q_s);

  float m[kRowsPerWarp], l[kRowsPerWarp], acc[kRowsPerWarp][kChunks];
KILN_UNROLL
  for (int t = 0; t < kRowsPerWarp; ++t) {
    m[t] = -INFINITY;
    l[t] = 0.0f;
KILN_UNROLL
    for (int c = 0; c < kChunks; ++c) acc[t][c] = 0.0f;
  }
  const int key_end = g.causal ? min(g.tk, i0 + kQueryTile) : g.tk;
  for (int j0 = 0; j0 < key_end; j0 += kKeyTile) {
    const int bk = min(kKeyTile, g.tk - j0);
    __syncthreads();  // the previous tile has been read
    stage(kb + static_cast<index_t>(j0) * g.d, kKeyTile, bk, g.d, ldk, k_s);
    stage(vb + static_cast<index_t>(j0) * g.dv, kKeyTile, bk, g.dv, g.dv, v_s);
    __syncthreads();
    const int j = j0 + lane;
KILN_UNROLL
    for (int t = 0; t < kRowsPerWarp; ++t) {
      const int ii = warp * kRowsPerWarp + t, i = i0 + ii;
      if (i >= g.tq) continue;  // uniform across the warp
      const bool valid = lane < bk && (!g.causal || j <= i);
      float s = -INFINITY;
      if (valid) {
        float dot = 0.0f;
        for (int c = 0; c < g.d; ++c) dot = fmaf(q_s[ii * g.d + c], k_s[lane * ldk + c], dot);
        s = dot * g.scale;
      }
      const float m_new = fmaxf(m[t], detail::warp_max(s));
      if (m_new == -INFINITY) continue;  // nothing visible yet (uniform)
      const float prob = valid ? expf(s - m_new) : 0.0f;
      const float correction = expf(m[t] - m_new);
      l[t] = l[t] * correction + detail::warp_sum(prob);
      m[t] = m_new;
KILN_UNROLL
      for (int c = 0; c < kChunks; ++c) acc[t][c] *= correction;
      for (int jj = 0; jj < bk; ++jj) {
        const float pj = __shfl_sync(kFullMask, prob, jj);
KILN_UNROLL
        for (int c = 0; c < kChunks; ++c) {
          const int col = lane + 32 * c;
          if (col < g.dv) acc[t][c] = fmaf(pj, v_s[jj * g.dv + col], acc[t][c]);
        }
      }
    }
  }
KILN_UNROLL
  for (int t = 0; t < kRowsPerWarp; ++t) {
    const int i = i0 + warp * kRowsPerWarp + t;
    if (i >= g.tq) continue;
    const index_t row = static_cast<index_t>(bh) * g.tq + i;
    const float inv = 1.0f / l[t];
KILN_UNROLL
    for (int c = 0; c < kChunks; ++c) {
      const int col = lane + 32 * c;
      if (col < g.dv) out[row * g.dv + col] = acc[t][c] * inv;
    }
    if (lane == 0) lse[row] = m[t] + logf(l[t]);
  }
}

// The backward's shared tiles: K, V (keys j0..), Q, dout (queries i0..), their logsumexp and
// delta, and the probability and dS tile.
struct BackwardTiles {
  float* k;
  float* v;
  float* q;
  float* dout;
  float* lse;
  float* delta;
  float* p;
  float* ds;
};

// Stage queries [i0, i0 + kBackTile) of batch-head bh: Q, dout, logsumexp, delta (a warp per row).
__device__ __forceinline__ void stage_queries(const Geometry& g, int bh, int i0, const float* q,
                                              const float* dout, const float* out, const float* lse,
                                              const BackwardTiles& s) {
  const int valid = min(kBackTile, g.tq - i0);
  const index_t row0 = static_cast<index_t>(bh) * g.tq + i0;
  stage(q + row0 * g.d, kBackTile, valid, g.d, g.d, s.q);
  stage(dout + row0 * g.dv, kBackTile, valid, g.dv, g.dv, s.dout);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  for (int ii = warp; ii < kBackTile; ii += kWarps) {
    float total = 0.0f;
    if (ii < valid)
      for (int c = lane; c < g.dv; c += 32) total = fmaf(dout[(row0 + ii) * g.dv + c], out[(row0 + ii) * g.dv + c], total);
    total = detail::warp_sum(total);
    if (lane == 0) {
      s.delta[ii] = total;
      s.lse[ii] = ii < valid ? lse[row0 + ii] : 0.0f;
    }
  }
}

__device__ __forceinline__ void stage_keys(const Geometry& g, int bh, int j0, const float* k,
                                           const float* v, const BackwardTiles& s) {
  const int valid = min(kBackTile, g.tk - j0);
  const index_t row0 = static_cast<index_t>(bh) * g.tk + j0;
  stage(k + row0 * g.d, kBackTile, valid, g.d, g.d + 1, s.k);
  stage(v + row0 * g.dv, kBackTile, valid, g.dv, g.dv + 1, s.v);
}

// p[ii][jj] = exp(scale * q_ii . k_jj - lse_ii) and ds = p * (dout_ii . v_jj - delta_ii),
// 0 where query i0+ii does not see key j0+jj (or either lies past the end).
__device__ __forceinline__ void probability_tile(const Geometry& g, int i0, int j0, const BackwardTiles& s) {
  constexpr int ld = kBackTile + 1;
  for (int e = threadIdx.x; e < kBackTile * kBackTile; e += blockDim.x) {
    const int ii = e / kBackTile, jj = e - ii * kBackTile, i = i0 + ii, j = j0 + jj;
    float prob = 0.0f, ds = 0.0f;
    if (i < g.tq && j < g.tk && (!g.causal || j <= i)) {
      float dot = 0.0f, dp = 0.0f;
      for (int c = 0; c < g.d; ++c) dot = fmaf(s.q[ii * g.d + c], s.k[jj * (g.d + 1) + c], dot);
      for (int c = 0; c < g.dv; ++c) dp = fmaf(s.dout[ii * g.dv + c], s.v[jj * (g.dv + 1) + c], dp);
      prob = expf(dot * g.scale - s.lse[ii]);
      ds = prob * (dp - s.delta[ii]);
    }
    s.p[ii * ld + jj] = prob;
    s.ds[ii * ld + jj] = ds;
  }
}

// The shared-memory layout of the backward kernels (static: D, Dv <= kMaxDim).
#define KILN_ATTENTION_BACKWARD_TILES(tiles)                                    \
  KILN_SHARED(float, k_s, [kBackTile * (kMaxDim + 1)]);                         \
  KILN_SHARED(float, v_s, [kBackTile * (kMaxDim + 1)]);                         \
  KILN_SHARED(float, q_s, [kBackTile * kMaxDim]);                               \
  KILN_SHARED(float, dout_s, [kBackTile * kMaxDim]);                            \
  KILN_SHARED(float, lse_s, [kBackTile]);                                       \
  KILN_SHARED(float, delta_s, [kBackTile]);                                     \
  KILN_SHARED(float, p_s, [kBackTile * (kBackTile + 1)]);                       \
  KILN_SHARED(float, ds_s, [kBackTile * (kBackTile + 1)]);                      \
  const BackwardTiles tiles{k_s, v_s, q_s, dout_s, lse_s, delta_s, p_s, ds_s}

__global__ void __launch_bounds__(kThreads)
    attention_backward_dkdv_kernel(Geometry g, const float* __restrict__ dout, const float* __restrict__ q,
                                   const float* __restrict__ k, const float* __restrict__ v,
                                   const float* __restrict__ out, const float* __restrict__ lse,
                                   float* __restrict__ dk, float* __restrict__ dv) {
  KILN_ATTENTION_BACKWARD_TILES(s);
  constexpr int ld = kBackTile + 1;
  const int bh = blockIdx.y, j0 = blockIdx.x * kBackTile;
  stage_keys(g, bh, j0, k, v, s);
  float dk_acc[kMaxPerThread], dv_acc[kMaxPerThread];
KILN_UNROLL
  for (int r = 0; r < kMaxPerThread; ++r) dk_acc[r] = dv_acc[r] = 0.0f;
  // Causal: queries before j0 see none of these keys.
  for (int i0 = g.causal ? j0 : 0; i0 < g.tq; i0 += kBackTile) {
    __syncthreads();  // the previous chunk has been read
    stage_queries(g, bh, i0, q, dout, out, lse, s);
    __syncthreads();
    probability_tile(g, i0, j0, s);
    __syncthreads();
KILN_UNROLL
    for (int r = 0; r < kMaxPerThread; ++r) {
      const int e = threadIdx.x + r * kThreads;
      if (e < kBackTile * g.dv) {
        const int jj = e / g.dv, c = e - jj * g.dv;
        float total = dv_acc[r];
        for (int ii = 0; ii < kBackTile; ++ii) total = fmaf(s.p[ii * ld + jj], s.dout[ii * g.dv + c], total);
        dv_acc[r] = total;
      }
      if (e < kBackTile * g.d) {
        const int jj = e / g.d, c = e - jj * g.d;
        float total = dk_acc[r];
        for (int ii = 0; ii < kBackTile; ++ii) total = fmaf(s.ds[ii * ld + jj], s.q[ii * g.d + c], total);
        dk_acc[r] = total;
      }
    }
  }
  const int valid = min(kBackTile, g.tk - j0);
  const index_t row0 = static_cast<index_t>(bh) * g.tk + j0;
KILN_UNROLL
  for (int r = 0; r < kMaxPerThread; ++r) {
    const int e = threadIdx.x + r * kThreads;
    if (e < valid * g.dv) dv[row0 * g.dv + e] = dv_acc[r];
    if (e < valid * g.d) dk[row0 * g.d + e] = dk_acc[r] * g.scale;
  }
}

__global__ void __launch_bounds__(kThreads)
    attention_backward_dq_kernel(Geometry g, const float* __restrict__ dout, const float* __restrict__ q,
                                 const float* __restrict__ k, const float* __restrict__ v,
                                 const float* __restrict__ out, const float* __restrict__ lse,
                                 float* __restrict__ dq) {
  KILN_ATTENTION_BACKWARD_TILES(s);
  constexpr int ld = kBackTile + 1;
  const int bh = blockIdx.y, i0 = blockIdx.x * kBackTile;
  stage_queries(g, bh, i0, q, dout, out, lse, s);
  float dq_acc[kMaxPerThread];
KILN_UNROLL
  for (int r = 0; r < kMaxPerThread; ++r) dq_acc[r] = 0.0f;
  const int key_end = g.causal ? min(g.tk, i0 + kBackTile) : g.tk;
  for (int j0 = 0; j0 < key_end; j0 += kBackTile) {
    __syncthreads();
    stage_keys(g, bh, j0, k, v, s);
    __syncthreads();
    probability_tile(g, i0, j0, s);
    __syncthreads();
KILN_UNROLL
    for (int r = 0; r < kMaxPerThread; ++r) {
      const int e = threadIdx.x + r * kThreads;
      if (e < kBackTile * g.d) {
        const int ii = e / g.d, c = e - ii * g.d;
        float total = dq_acc[r];
        for (int jj = 0; jj < kBackTile; ++jj) total = fmaf(s.ds[ii * ld + jj], s.k[jj * (g.d + 1) + c], total);
        dq_acc[r] = total;
      }
    }
  }
  const int valid = min(kBackTile, g.tq - i0);
  const index_t row0 = static_cast<index_t>(bh) * g.tq + i0;
KILN_UNROLL
  for (int r = 0; r < kMaxPerThread; ++r) {
    const int e = threadIdx.x + r * kThreads;
    if (e < valid * g.d) dq[row0 * g.d + e] = dq_acc[r] * g.scale;
  }
}

#undef KILN_ATTENTION_BACKWARD_TILES

unsigned tiles(index_t n, int tile) { return static_cast<unsigned>((n + tile - 1) / tile); }

}  // namespace

void attention_forward(const AttentionParams& p, const float* q, const float* k, const float* v,
                       float* out, float* logsumexp, cudaStream_t stream) {
  check(p);
  const dim3 grid(tiles(p.tq, kQueryTile), static_cast<unsigned>(p.batch_heads));
  detail::throw_if_failed(launch(attention_forward_kernel, grid, dim3(kThreads), 0, stream, geometry(p), q, k, v,
                                 out, logsumexp),
                          "attention_forward", sizes(p));
}

void attention_backward(const AttentionParams& p, const float* dout, const float* q, const float* k,
                        const float* v, const float* out, const float* logsumexp, float* dq, float* dk,
                        float* dv, cudaStream_t stream) {
  check(p);
  const Geometry g = geometry(p);
  const unsigned bh = static_cast<unsigned>(p.batch_heads);
  detail::throw_if_failed(launch(attention_backward_dkdv_kernel, dim3(tiles(p.tk, kBackTile), bh), dim3(kThreads),
                                 0, stream, g, dout, q, k, v, out, logsumexp, dk, dv),
                          "attention_backward_dkdv", sizes(p));
  detail::throw_if_failed(launch(attention_backward_dq_kernel, dim3(tiles(p.tq, kBackTile), bh), dim3(kThreads), 0,
                                 stream, g, dout, q, k, v, out, logsumexp, dq),
                          "attention_backward_dq", sizes(p));
}

}  // namespace kiln::cuda
