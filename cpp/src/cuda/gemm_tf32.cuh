// kiln CUDA (private): the TF32 tensor-core GEMM engine (the opt-in path of matmul).
//
//   C[z] (m, n) = epilogue(A[z] (m, k) @ B[z] (k, n)), inputs rounded to TF32
//
// The operands, the edge predication and the epilogue are the SIMT engine's
// (gemm_tile.cuh); what changes is the inner product. A block of 8 warps computes a
// 128 x 128 tile, each warp a 64 x 32 piece of it as 4 x 2 accumulator fragments of
// m16n16k8 (nvcuda::wmma, TF32 inputs, float accumulation). k advances 16 at a time
// through two k-major shared tiles (double-buffered as in the SIMT engine, the next
// tile's global loads in flight during this tile's mma_sync), which are exactly the
// layouts wmma reads as a column-major A and a row-major B; rows padded by 8 floats keep
// every fragment's first element 32-byte aligned. Each fragment is converted to TF32
// with round-to-nearest (__float_to_tf32) after its load. At the end each warp stages
// one accumulator fragment at a time through shared memory so the epilogue sees rows of
// 4 values, as from the SIMT engine.
#pragma once

#include "gemm_tile.cuh"
#include "wmma_compat.hpp"

namespace kiln::cuda::detail {

struct Tf32Tile {
  static constexpr int BM = 128, BN = 128, BK = 16;
  static constexpr int kWarpsM = 2, kWarpsN = 4, kThreads = 32 * kWarpsM * kWarpsN;
  static constexpr int kWarpM = BM / kWarpsM, kWarpN = BN / kWarpsN;  // 64 x 32
  static constexpr int kFragsM = kWarpM / 16, kFragsN = kWarpN / 16;  // 4 x 2
  static constexpr int kLdA = BM + 8, kLdB = BN + 8;
  static constexpr int kStageFloats = BK * (kLdA + kLdB);
  static constexpr int kStagingFloats = (kThreads / 32) * 16 * 16;
  static constexpr int kSharedFloats = 2 * kStageFloats + kStagingFloats;
};

template <class A, class B, class Epilogue>
__global__ void __launch_bounds__(Tf32Tile::kThreads)
    gemm_tf32_kernel(index_t m, index_t n, index_t k, index_t z0, A a, B b, Epilogue epilogue) {
  namespace wmma = nvcuda::wmma;
  using Cfg = Tf32Tile;
  constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK;
  KILN_DYNAMIC_SHARED(float, smem);
  const int tid = static_cast<int>(threadIdx.x), warp = tid / 32, lane = tid % 32;
  const int wm = warp / Cfg::kWarpsN, wn = warp % Cfg::kWarpsN;
  const index_t z = z0 + blockIdx.z;
  const index_t n_tiles = (n + BN - 1) / BN;
  const index_t row0 = (static_cast<index_t>(blockIdx.x) / n_tiles) * BM;
  const index_t col0 = (static_cast<index_t>(blockIdx.x) % n_tiles) * BN;

  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[Cfg::kFragsM][Cfg::kFragsN];
KILN_UNROLL
  for (int i = 0; i < Cfg::kFragsM; ++i)
KILN_UNROLL
    for (int j = 0; j < Cfg::kFragsN; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  typename A::template Fetch<BM, BK, Cfg::kThreads> fa;
  typename B::template Fetch<BN, BK, Cfg::kThreads> fb;
  const index_t tiles = (k + BK - 1) / BK;
  a.fetch(fa, z, row0, 0, tid);
  b.fetch(fb, z, col0, 0, tid);
  a.put(smem, Cfg::kLdA, fa, tid);
  b.put(smem + BK * Cfg::kLdA, Cfg::kLdB, fb, tid);
  __syncthreads();
  for (index_t t = 0; t < tiles; ++t) {
    const float* as = smem + (t & 1) * Cfg::kStageFloats;
    const float* bs = as + BK * Cfg::kLdA;
    const bool more = t + 1 < tiles;
    if (more) {
      a.fetch(fa, z, row0, (t + 1) * BK, tid);
      b.fetch(fb, z, col0, (t + 1) * BK, tid);
    }
KILN_UNROLL
    for (int kk = 0; kk < BK; kk += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major> fra[Cfg::kFragsM];
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> frb[Cfg::kFragsN];
KILN_UNROLL
      for (int i = 0; i < Cfg::kFragsM; ++i) {
        wmma::load_matrix_sync(fra[i], as + kk * Cfg::kLdA + wm * Cfg::kWarpM + i * 16, Cfg::kLdA);
KILN_UNROLL
        for (int e = 0; e < fra[i].num_elements; ++e) fra[i].x[e] = wmma::__float_to_tf32(fra[i].x[e]);
      }
KILN_UNROLL
      for (int j = 0; j < Cfg::kFragsN; ++j) {
        wmma::load_matrix_sync(frb[j], bs + kk * Cfg::kLdB + wn * Cfg::kWarpN + j * 16, Cfg::kLdB);
KILN_UNROLL
        for (int e = 0; e < frb[j].num_elements; ++e) frb[j].x[e] = wmma::__float_to_tf32(frb[j].x[e]);
      }
KILN_UNROLL
      for (int i = 0; i < Cfg::kFragsM; ++i)
KILN_UNROLL
        for (int j = 0; j < Cfg::kFragsN; ++j) wmma::mma_sync(acc[i][j], fra[i], frb[j], acc[i][j]);
    }
    if (more) {
      float* next = smem + ((t + 1) & 1) * Cfg::kStageFloats;
      a.put(next, Cfg::kLdA, fa, tid);
      b.put(next + BK * Cfg::kLdA, Cfg::kLdB, fb, tid);
    }
    __syncthreads();
  }

  float* staging = smem + 2 * Cfg::kStageFloats + warp * 256;
  const int r = lane / 2, c = (lane % 2) * 8;
KILN_UNROLL
  for (int i = 0; i < Cfg::kFragsM; ++i) {
KILN_UNROLL
    for (int j = 0; j < Cfg::kFragsN; ++j) {
      wmma::store_matrix_sync(staging, acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      const index_t row = row0 + wm * Cfg::kWarpM + i * 16 + r;
      const index_t col = col0 + wn * Cfg::kWarpN + j * 16 + c;
      if (row < m) {
KILN_UNROLL
        for (int h = 0; h < 2; ++h) {
          const index_t ch = col + 4 * h;
          if (ch < n) {
            const float* s = staging + r * 16 + c + 4 * h;
            epilogue.store(z, row, ch, make_float4(s[0], s[1], s[2], s[3]),
                           n - ch >= 4 ? 4 : static_cast<int>(n - ch));
          }
        }
      }
      __syncwarp();  // the staging tile is read before the next fragment overwrites it
    }
  }
}

template <class A, class B, class Epilogue>
cudaError_t gemm_tf32(index_t m, index_t n, index_t k, index_t batch, const A& a, const B& b,
                      const Epilogue& epilogue, cudaStream_t stream) {
  using Cfg = Tf32Tile;
  if (m <= 0 || n <= 0 || batch <= 0) return cudaSuccess;
  const index_t tiles = ((m + Cfg::BM - 1) / Cfg::BM) * ((n + Cfg::BN - 1) / Cfg::BN);
  for (index_t z0 = 0; z0 < batch; z0 += kMaxGridZ) {
    const index_t chunk = batch - z0 < kMaxGridZ ? batch - z0 : kMaxGridZ;
    const cudaError_t e = launch(gemm_tf32_kernel<A, B, Epilogue>,
                                 dim3(static_cast<unsigned>(tiles), 1, static_cast<unsigned>(chunk)),
                                 dim3(Cfg::kThreads), Cfg::kSharedFloats * sizeof(float), stream, m,
                                 n, k, z0, a, b, epilogue);
    if (e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

}  // namespace kiln::cuda::detail
