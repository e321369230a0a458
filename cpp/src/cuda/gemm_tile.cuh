// kiln CUDA (private): the one GEMM engine every GEMM-shaped kernel runs on.
//
//   C[z] (m, n) = epilogue(A[z] (m, k) @ B[z] (k, n))        z < batch (blockIdx.z)
//
// A and B are *operands*: objects that fill a shared-memory tile of op(A) or op(B)
// (below), so one engine serves strided matrices (matmul, linear, the LSTM) and gathered
// ones (the implicit GEMMs of conv2d, which never materialise im2col). The epilogue
// receives finished rows of 4 values and writes them as it likes (alpha, beta * C,
// bias, activation; conv2d's NCHW scatter).
//
// Structure (the classic SGEMM of Volkov / CUTLASS's SIMT path):
//   - a block computes a BM x BN tile of C; each thread a TM x TN register tile of it, as
//     two 4-row by two 4-column strips half a tile apart, so its operands come from
//     shared memory as float4s and a warp's reads are broadcasts without bank conflicts;
//   - the k dimension advances BK at a time through two shared-memory tiles, both stored
//     k-major (tile[k][row]): while the block multiplies one, each thread has already
//     fetched its part of the next into registers (global latency hidden behind the FMAs)
//     and stores it into the other, so a k step costs one __syncthreads;
//   - global loads are float4 where the operand allows (aligned base, leading dimension a
//     multiple of 4, the quad inside the matrix), scalar and predicated at the edges:
//     outside the matrix reads as 0, so edge tiles need no special path.
#pragma once

#include <cstdint>
#include <type_traits>

#include "cuda_compat.hpp"
#include "unroll.hpp"
#include "kiln/common.hpp"
#include "launch.hpp"

namespace kiln::cuda::detail {

template <int BM_, int BN_, int BK_, int TM_, int TN_, int kPad_>
struct TileConfig {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, TM = TM_, TN = TN_;
  static constexpr int kThreadsN = BN / TN, kThreadsM = BM / TM;
  static constexpr int kThreads = kThreadsM * kThreadsN;
  // Row length of the k-major shared tiles; the pad keeps the transposing stores of
  // k-contiguous operands off one bank and every row 16-byte aligned.
  static constexpr int kLdA = BM + kPad_, kLdB = BN + kPad_;
  static constexpr int kStageFloats = BK * (kLdA + kLdB);
  static_assert(TM == 8 && TN == 8, "a thread's tile is two 4x4 strips each way");
  static_assert((BM * BK) % (4 * kThreads) == 0 && (BN * BK) % (4 * kThreads) == 0,
                "each thread fetches whole quads of each operand tile");
};

// 256 threads, 8x8 each: large products. 64 threads on 64x64: small ones, so that a
// product of a few hundred rows still spreads over the multiprocessors.
using LargeTile = TileConfig<128, 128, 8, 8, 8, 4>;
using SmallTile = TileConfig<64, 64, 8, 8, 8, 4>;

// ---- operands ---------------------------------------------------------------------------
// An operand of `rows` rows (m for A, n for B) and depth k (the GEMM's k). It provides
//   template <int kRows, int kBK, int kThreads> struct Fetch { float v[...]; };
//   fetch(f, z, row0, k0, tid): the thread's part of the tile rows [row0, row0 + kRows),
//                                depth [k0, k0 + kBK), zero outside the operand;
//   put(tile, ld, f, tid):      stores that part into tile[k * ld + row].

// A dense matrix, element (row, kk) at data + z * batch_stride + row * row_stride +
// kk * k_stride, with one of the strides 1 (row-contiguous: A^T or B as stored; or
// k-contiguous: A or B^T as stored).
struct MatrixOperand {
  const float* data = nullptr;
  index_t rows = 0, depth = 0;
  index_t ld = 0;            // the stride that is not 1
  bool k_contiguous = false;  // element (row, kk) at row * ld + kk; else kk * ld + row
  index_t batch_stride = 0;
  bool vector_ok = false;  // float4 loads: aligned base, ld and batch_stride multiples of 4

  // Quads run along the contiguous direction. Row-contiguous: quad q covers rows
  // [4 (q % (kRows/4)), +4) at depth q / (kRows/4). K-contiguous: depth [4 (q % (kBK/4)), +4)
  // of row q / (kBK/4) (neighbouring threads read neighbouring addresses either way).
  template <int kRows, int kBK, int kThreads>
  struct Fetch {
    static constexpr int kQuads = kRows * kBK / (4 * kThreads);
    float4 v[kQuads];
  };

  // Quad q of a tile at (row0, k0): its first element's operand row and depth.
  template <int kRows, int kBK>
  __device__ __forceinline__ void quad_position(int q, index_t row0, index_t k0, index_t& r,
                                                index_t& kk) const {
    if (k_contiguous) {
      r = row0 + q / (kBK / 4);
      kk = k0 + 4 * (q % (kBK / 4));
    } else {
      r = row0 + 4 * (q % (kRows / 4));
      kk = k0 + q / (kRows / 4);
    }
  }

  __device__ __forceinline__ float element(index_t z, index_t r, index_t kk) const {
    if (r >= rows || kk >= depth) return 0.0f;
    return __ldg(data + z * batch_stride + (k_contiguous ? r * ld + kk : kk * ld + r));
  }

  // The quad at (r, kk) along the contiguous direction, zero outside the operand.
  __device__ __forceinline__ float4 quad(index_t z, index_t r, index_t kk) const {
    const float* base = data + z * batch_stride;
    float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (k_contiguous) {
      if (r < rows) {
        const float* p = base + r * ld + kk;
        if (vector_ok && kk + 3 < depth) {
          v = __ldg(reinterpret_cast<const float4*>(p));
        } else {
          if (kk < depth) v.x = __ldg(p);
          if (kk + 1 < depth) v.y = __ldg(p + 1);
          if (kk + 2 < depth) v.z = __ldg(p + 2);
          if (kk + 3 < depth) v.w = __ldg(p + 3);
        }
      }
    } else if (kk < depth) {
      const float* p = base + kk * ld + r;
      if (vector_ok && r + 3 < rows) {
        v = __ldg(reinterpret_cast<const float4*>(p));
      } else {
        if (r < rows) v.x = __ldg(p);
        if (r + 1 < rows) v.y = __ldg(p + 1);
        if (r + 2 < rows) v.z = __ldg(p + 2);
        if (r + 3 < rows) v.w = __ldg(p + 3);
      }
    }
    return v;
  }

  template <int kRows, int kBK, int kThreads>
  __device__ __forceinline__ void fetch(Fetch<kRows, kBK, kThreads>& f, index_t z, index_t row0,
                                        index_t k0, int tid) const {
KILN_UNROLL
    for (int j = 0; j < Fetch<kRows, kBK, kThreads>::kQuads; ++j) {
      index_t r, kk;
      quad_position<kRows, kBK>(tid + j * kThreads, row0, k0, r, kk);
      f.v[j] = quad(z, r, kk);
    }
  }

  template <int kRows, int kBK, int kThreads>
  __device__ __forceinline__ void put(float* tile, int ld_tile, const Fetch<kRows, kBK, kThreads>& f,
                                      int tid) const {
KILN_UNROLL
    for (int j = 0; j < Fetch<kRows, kBK, kThreads>::kQuads; ++j) {
      const int q = tid + j * kThreads;
      if (k_contiguous) {
        const int r = q / (kBK / 4), kk = 4 * (q % (kBK / 4));
        tile[(kk + 0) * ld_tile + r] = f.v[j].x;
        tile[(kk + 1) * ld_tile + r] = f.v[j].y;
        tile[(kk + 2) * ld_tile + r] = f.v[j].z;
        tile[(kk + 3) * ld_tile + r] = f.v[j].w;
      } else {
        const int r = 4 * (q % (kRows / 4)), kk = q / (kRows / 4);
        *reinterpret_cast<float4*>(tile + kk * ld_tile + r) = f.v[j];
      }
    }
  }
};

// Host side: whether p may be read or written as float4s.
inline bool vector_aligned(const void* p) { return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0; }

// Host side: an operand of `rows` x `depth` over a row-major stored matrix with leading
// dimension ld: its stored rows are the operand's rows (rows_are_stored_rows: A, or B^T,
// as stored) or its depth (A^T, or B, as stored).
inline MatrixOperand matrix_operand(const float* data, index_t rows, index_t depth, index_t ld,
                                    bool rows_are_stored_rows, index_t batch_stride = 0) {
  MatrixOperand o;
  o.data = data;
  o.rows = rows;
  o.depth = depth;
  o.ld = ld;
  o.k_contiguous = rows_are_stored_rows;
  o.batch_stride = batch_stride;
  o.vector_ok = vector_aligned(data) && ld % 4 == 0 &&
                batch_stride % 4 == 0;
  return o;
}

// Two k-contiguous matrices one after the other along the depth: element (row, kk) of
// `first` for kk < split, else of `second` at kk - split (the LSTM cell's [x h] and
// [W_ih W_hh], one GEMM for the step). A quad that straddles the split is read by element.
struct SplitDepthOperand {
  MatrixOperand first, second;  // both k_contiguous, first.depth == split
  index_t split = 0;

  template <int kRows, int kBK, int kThreads>
  using Fetch = MatrixOperand::Fetch<kRows, kBK, kThreads>;

  template <int kRows, int kBK, int kThreads>
  __device__ __forceinline__ void fetch(Fetch<kRows, kBK, kThreads>& f, index_t z, index_t row0,
                                        index_t k0, int tid) const {
KILN_UNROLL
    for (int j = 0; j < Fetch<kRows, kBK, kThreads>::kQuads; ++j) {
      index_t r, kk;
      first.quad_position<kRows, kBK>(tid + j * kThreads, row0, k0, r, kk);
      if (kk + 3 < split) {
        f.v[j] = first.quad(z, r, kk);
      } else if (kk >= split) {
        f.v[j] = second.quad(z, r, kk - split);
      } else {
        float e[4];
        for (int i = 0; i < 4; ++i) {
          const index_t d = kk + i;
          e[i] = d < split ? first.element(z, r, d) : second.element(z, r, d - split);
        }
        f.v[j] = make_float4(e[0], e[1], e[2], e[3]);
      }
    }
  }

  template <int kRows, int kBK, int kThreads>
  __device__ __forceinline__ void put(float* tile, int ld_tile, const Fetch<kRows, kBK, kThreads>& f,
                                      int tid) const {
    first.put(tile, ld_tile, f, tid);
  }
};

// Host side: [first second] along the depth; second's quads are aligned only when the
// split is a multiple of 4.
inline SplitDepthOperand split_depth_operand(const MatrixOperand& first, MatrixOperand second) {
  second.vector_ok = second.vector_ok && first.depth % 4 == 0;
  SplitDepthOperand o;
  o.first = first;
  o.second = second;
  o.split = first.depth;
  return o;
}

// An operand whose elements are computed from their position by `Gather`: the
// implicit-GEMM operands of conv2d. A thread always fetches the same row of the tile
// (kThreads is a multiple of the tile's rows), so what depends on the row alone (an image's
// base address, a window's corner) is computed once per block, in
//   __device__ Gather::Row row(index_t z, index_t r) const;
// and each element of a tile from it and the depth kk, in
//   __device__ float at(index_t z, const Gather::Row& row, index_t kk) const;
// (called only inside the operand: r < rows, kk < depth). Neighbouring threads take
// neighbouring rows (neighbouring addresses of x or dy at stride 1).
template <class Gather>
struct GatherOperand {
  Gather gather;
  index_t rows = 0, depth = 0;

  template <int kRows, int kBK, int kThreads>
  struct Fetch {
    static_assert(kThreads % kRows == 0, "a thread keeps one row of the tile");
    static constexpr int kCount = kRows * kBK / kThreads;
    float v[kCount];
    typename Gather::Row row;
    bool has_row = false;  // row computed (and inside the operand)
    bool ready = false;
  };

  template <int kRows, int kBK, int kThreads>
  __device__ __forceinline__ void fetch(Fetch<kRows, kBK, kThreads>& f, index_t z, index_t row0,
                                        index_t k0, int tid) const {
    const index_t r = row0 + tid % kRows;
    if (!f.ready) {  // the first tile of the block
      f.ready = true;
      f.has_row = r < rows;
      if (f.has_row) f.row = gather.row(z, r);
    }
KILN_UNROLL
    for (int j = 0; j < Fetch<kRows, kBK, kThreads>::kCount; ++j) {
      const index_t kk = k0 + tid / kRows + j * (kThreads / kRows);
      f.v[j] = (f.has_row && kk < depth) ? gather.at(z, f.row, kk) : 0.0f;
    }
  }

  template <int kRows, int kBK, int kThreads>
  __device__ __forceinline__ void put(float* tile, int ld_tile, const Fetch<kRows, kBK, kThreads>& f,
                                      int tid) const {
KILN_UNROLL
    for (int j = 0; j < Fetch<kRows, kBK, kThreads>::kCount; ++j) {
      const int kk = tid / kRows + j * (kThreads / kRows);
      tile[kk * ld_tile + tid % kRows] = f.v[j];
    }
  }
};

// ---- the SIMT kernel --------------------------------------------------------------------
// Grid: x = tile index (n tiles fastest), z = slice zz (from z0) = batch index * splits +
// split: split s of a split-k product covers depth [s * k_chunk, (s + 1) * k_chunk) and
// hands its partial sums to the epilogue under zz (PartialEpilogue); without a split,
// zz is the batch index. Dynamic shared memory: 2 stages of Cfg::kStageFloats floats.
template <class Cfg, class A, class B, class Epilogue>
__global__ void __launch_bounds__(Cfg::kThreads)
    gemm_simt_kernel(index_t m, index_t n, index_t k, index_t z0, int splits, index_t k_chunk, A a,
                     B b, Epilogue epilogue) {
  KILN_DYNAMIC_SHARED(float, smem);
  constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK;
  const int tid = static_cast<int>(threadIdx.x);
  const index_t zz = z0 + blockIdx.z;
  const index_t z = zz / splits;
  const index_t k_begin = (zz % splits) * k_chunk;
  const index_t k_end = k_begin + k_chunk < k ? k_begin + k_chunk : k;
  const index_t n_tiles = (n + BN - 1) / BN;
  const index_t row0 = (static_cast<index_t>(blockIdx.x) / n_tiles) * BM;
  const index_t col0 = (static_cast<index_t>(blockIdx.x) % n_tiles) * BN;
  const int tm = tid / Cfg::kThreadsN, tn = tid % Cfg::kThreadsN;

  float acc[8][8];
KILN_UNROLL
  for (int i = 0; i < 8; ++i)
KILN_UNROLL
    for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;

  typename A::template Fetch<BM, BK, Cfg::kThreads> fa;
  typename B::template Fetch<BN, BK, Cfg::kThreads> fb;
  const index_t tiles = k_end > k_begin ? (k_end - k_begin + BK - 1) / BK : 0;
  if (tiles > 0) {
    a.fetch(fa, z, row0, k_begin, tid);
    b.fetch(fb, z, col0, k_begin, tid);
    a.put(smem, Cfg::kLdA, fa, tid);
    b.put(smem + BK * Cfg::kLdA, Cfg::kLdB, fb, tid);
  }
  __syncthreads();
  for (index_t t = 0; t < tiles; ++t) {
    float* stage = smem + (t & 1) * Cfg::kStageFloats;
    const float* as = stage;
    const float* bs = stage + BK * Cfg::kLdA;
    const bool more = t + 1 < tiles;
    if (more) {  // the next tile's loads are in flight during this tile's FMAs
      a.fetch(fa, z, row0, k_begin + (t + 1) * BK, tid);
      b.fetch(fb, z, col0, k_begin + (t + 1) * BK, tid);
    }
KILN_UNROLL
    for (int kk = 0; kk < BK; ++kk) {
      float ra[8], rb[8];
      const float4 a0 = *reinterpret_cast<const float4*>(as + kk * Cfg::kLdA + tm * 4);
      const float4 a1 = *reinterpret_cast<const float4*>(as + kk * Cfg::kLdA + BM / 2 + tm * 4);
      const float4 b0 = *reinterpret_cast<const float4*>(bs + kk * Cfg::kLdB + tn * 4);
      const float4 b1 = *reinterpret_cast<const float4*>(bs + kk * Cfg::kLdB + BN / 2 + tn * 4);
      ra[0] = a0.x; ra[1] = a0.y; ra[2] = a0.z; ra[3] = a0.w;
      ra[4] = a1.x; ra[5] = a1.y; ra[6] = a1.z; ra[7] = a1.w;
      rb[0] = b0.x; rb[1] = b0.y; rb[2] = b0.z; rb[3] = b0.w;
      rb[4] = b1.x; rb[5] = b1.y; rb[6] = b1.z; rb[7] = b1.w;
KILN_UNROLL
      for (int i = 0; i < 8; ++i)
KILN_UNROLL
        for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(ra[i], rb[j], acc[i][j]);
    }
    if (more) {
      float* next = smem + ((t + 1) & 1) * Cfg::kStageFloats;
      a.put(next, Cfg::kLdA, fa, tid);
      b.put(next + BK * Cfg::kLdA, Cfg::kLdB, fb, tid);
    }
    __syncthreads();
  }

KILN_UNROLL
  for (int i = 0; i < 8; ++i) {
    const index_t row = row0 + (i < 4 ? 0 : BM / 2) + tm * 4 + (i & 3);
    if (row >= m) continue;
KILN_UNROLL
    for (int s = 0; s < 2; ++s) {
      const index_t col = col0 + s * (BN / 2) + tn * 4;
      if (col >= n) continue;
      const int count = n - col >= 4 ? 4 : static_cast<int>(n - col);
      epilogue.store(zz, row, col,
                     make_float4(acc[i][4 * s], acc[i][4 * s + 1], acc[i][4 * s + 2], acc[i][4 * s + 3]),
                     count);
    }
  }
}

// Largest grid dimension z per launch (the batch is launched in chunks of this many).
constexpr index_t kMaxGridZ = 65535;

inline int multiprocessor_count() {
  int device = 0, count = 1;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
    count = 1;  // the launch reports the device's error
  return count > 0 ? count : 1;
}

// Split-k: the partial sums of slice zz land in workspace[(zz * m + row) * n + col]; a
// second kernel adds the splits of each element in split order (deterministic) and
// applies the real epilogue.
struct PartialEpilogue {
  float* workspace;
  index_t m, n;
  __device__ __forceinline__ void store(index_t zz, index_t row, index_t col, float4 v, int count) const {
    float* p = workspace + (zz * m + row) * n + col;
    p[0] = v.x;
    if (count > 1) p[1] = v.y;
    if (count > 2) p[2] = v.z;
    if (count > 3) p[3] = v.w;
  }
};

template <class Epilogue>
__global__ void __launch_bounds__(256)
    split_reduce_kernel(index_t m, index_t n, index_t batch, int splits, const float* workspace,
                        Epilogue epilogue) {
  const index_t groups = (n + 3) / 4, total = batch * m * groups;
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t e = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const index_t col = (e % groups) * 4, row = (e / groups) % m, z = e / (groups * m);
    const int count = n - col >= 4 ? 4 : static_cast<int>(n - col);
    float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int s = 0; s < splits; ++s) {
      const float* p = workspace + ((z * splits + s) * m + row) * n + col;
      for (int j = 0; j < count; ++j) v[j] += p[j];
    }
    epilogue.store(z, row, col, make_float4(v[0], v[1], v[2], v[3]), count);
  }
}

// How a product runs: the tile, and into how many k splits (1: none).
struct GemmPlan {
  bool large = false;
  int splits = 1;
  index_t k_chunk = 0;
};

// Large tiles once they give every multiprocessor two blocks; small ones before. A product
// that small tiles still leave below two blocks per multiprocessor but that is deep (at
// least kMinSplitDepth per split) splits k, up to kMaxSplits ways.
constexpr index_t kMinSplitDepth = 256;
constexpr int kMaxSplits = 16;

inline GemmPlan gemm_plan(index_t m, index_t n, index_t k, index_t batch) {
  GemmPlan plan;
  const index_t want = 2 * static_cast<index_t>(multiprocessor_count());
  const index_t large_blocks = ((m + 127) / 128) * ((n + 127) / 128) * batch;
  plan.large = large_blocks >= want;
  const index_t small_blocks = ((m + 63) / 64) * ((n + 63) / 64) * batch;
  if (plan.large || small_blocks >= want) return plan;
  index_t splits = (want + small_blocks - 1) / small_blocks;
  if (splits > k / kMinSplitDepth) splits = k / kMinSplitDepth;
  if (splits > kMaxSplits) splits = kMaxSplits;
  if (splits < 2) return plan;
  plan.splits = static_cast<int>(splits);
  plan.k_chunk = ((k + splits - 1) / splits + SmallTile::BK - 1) / SmallTile::BK * SmallTile::BK;
  plan.splits = static_cast<int>((k + plan.k_chunk - 1) / plan.k_chunk);
  return plan;
}

// Floats of workspace a product would use to split k (0: it would not split).
inline index_t gemm_workspace(index_t m, index_t n, index_t k, index_t batch) {
  if (m <= 0 || n <= 0 || batch <= 0) return 0;
  const GemmPlan plan = gemm_plan(m, n, k, batch);
  return plan.splits > 1 ? plan.splits * batch * m * n : 0;
}

// Runs the product on `stream` with the SIMT engine, choosing the tile (and a k split when
// `workspace` holds gemm_workspace(m, n, k, batch) floats) from the shape; returns the first
// launch error. Nothing runs when m, n or batch is 0.
template <class A, class B, class Epilogue>
cudaError_t gemm_simt(index_t m, index_t n, index_t k, index_t batch, const A& a, const B& b,
                      const Epilogue& epilogue, cudaStream_t stream, float* workspace = nullptr,
                      index_t workspace_floats = 0) {
  if (m <= 0 || n <= 0 || batch <= 0) return cudaSuccess;
  GemmPlan plan = gemm_plan(m, n, k, batch);
  if (plan.splits > 1 && (!workspace || workspace_floats < plan.splits * batch * m * n)) plan = GemmPlan{};
  auto run = [&](auto cfg, const auto& ep) -> cudaError_t {
    using Cfg = decltype(cfg);
    using Ep = std::decay_t<decltype(ep)>;
    const index_t tiles = ((m + Cfg::BM - 1) / Cfg::BM) * ((n + Cfg::BN - 1) / Cfg::BN);
    const index_t slices = batch * plan.splits;
    const index_t k_chunk = plan.splits > 1 ? plan.k_chunk : k;
    for (index_t z0 = 0; z0 < slices; z0 += kMaxGridZ) {
      const index_t chunk = slices - z0 < kMaxGridZ ? slices - z0 : kMaxGridZ;
      const cudaError_t e = launch(gemm_simt_kernel<Cfg, A, B, Ep>,
                                   dim3(static_cast<unsigned>(tiles), 1, static_cast<unsigned>(chunk)),
                                   dim3(Cfg::kThreads), 2 * Cfg::kStageFloats * sizeof(float),
                                   stream, m, n, k, z0, plan.splits, k_chunk, a, b, ep);
      if (e != cudaSuccess) return e;
    }
    return cudaSuccess;
  };
  if (plan.large) return run(LargeTile{}, epilogue);
  if (plan.splits == 1) return run(SmallTile{}, epilogue);
  const cudaError_t e = run(SmallTile{}, PartialEpilogue{workspace, m, n});
  if (e != cudaSuccess) return e;
  const index_t work = batch * m * ((n + 3) / 4);
  index_t blocks = (work + 255) / 256;
  const index_t max_blocks = 8 * static_cast<index_t>(multiprocessor_count());
  if (blocks > max_blocks) blocks = max_blocks;
  return launch(split_reduce_kernel<Epilogue>, dim3(static_cast<unsigned>(blocks)), dim3(256), 0,
                stream, m, n, batch, plan.splits, static_cast<const float*>(workspace), epilogue);
}

}  // namespace kiln::cuda::detail
