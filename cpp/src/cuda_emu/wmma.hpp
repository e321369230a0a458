// kiln's emulated device: the part of CUDA's warp matrix API (nvcuda::wmma, <mma.h>) that
// kiln's kernels use: m16n16k8 fragments of precision::tf32 with float accumulators.
//
// Why: the emulator has no tensor cores, but the TF32 GEMM path must be tested like every
// other. A fragment is spread over the warp's 32 lanes as on the GPU: each lane holds
// num_elements of it (4 of A's 16x8 or B's 8x16, 8 of the 16x16 accumulator), lane l
// element e being entry l * num_elements + e of the matrix in row-major order. That
// mapping is kiln's, not the hardware's (which is undocumented); code that touches x[]
// only elementwise, as CUDA requires, cannot tell. Every operation is warp-collective: it
// ends in __syncwarp, so a lane that skips it (divergence, an early return) stops the
// launch as it would be undefined on the GPU. mma_sync exchanges the lanes' elements
// through a per-warp scratch area, computes each lane's own entries (d = a b + c, float
// fused multiply-adds in k order), and reads A and B as the tensor cores do: the 13 low
// mantissa bits dropped, so an input that was not converted with __float_to_tf32 (round
// to nearest, ties away from zero, as cvt.rna.tf32.f32) is truncated, as on the GPU.
// load/store_matrix_sync refuse (__trap) a pointer not 32-byte aligned or an ldm that is
// not a multiple of 4 floats, which CUDA leaves undefined.
#pragma once

#include <cstdint>
#include <cstring>

#include "device_code.hpp"

namespace nvcuda::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
namespace precision {
struct tf32 {};
}  // namespace precision
enum layout_t { mem_row_major, mem_col_major };

namespace emu {

template <class Use, int M, int N, int K>
struct Shape;
template <int M, int N, int K>
struct Shape<matrix_a, M, N, K> { static constexpr int rows = M, cols = K; };
template <int M, int N, int K>
struct Shape<matrix_b, M, N, K> { static constexpr int rows = K, cols = N; };
template <int M, int N, int K>
struct Shape<accumulator, M, N, K> { static constexpr int rows = M, cols = N; };

inline unsigned linear_thread() {
  return (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
}
inline unsigned lane() { return linear_thread() % 32; }

// Per warp of the running block: A (16x8), B (8x16) and C (16x16) of one mma_sync.
// Blocks run one at a time on their OS thread, so a thread-local area serves them all.
struct MmaScratch {
  float a[128], b[128], c[256];
};
inline MmaScratch& scratch(unsigned warp) {
  static thread_local MmaScratch area[32];
  return area[warp];
}

inline void check_pointer(const void* p, unsigned ldm) {
  if ((reinterpret_cast<std::uintptr_t>(p) & 31u) != 0 || ldm % 4 != 0) __trap();
}

inline float tf32_truncate(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) != 0x7f800000u) u &= 0xffffe000u;  // Inf and NaN pass unchanged
  std::memcpy(&x, &u, 4);
  return x;
}

}  // namespace emu

template <class Use, int M, int N, int K, class T, class Layout = void>
class fragment {
 public:
  using shape = emu::Shape<Use, M, N, K>;
  static constexpr int num_elements = shape::rows * shape::cols / 32;
  float x[num_elements];
};

// Round to nearest TF32 (10 mantissa bits), ties away from zero, as cvt.rna.tf32.f32.
inline float __float_to_tf32(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) != 0x7f800000u) {
    u += 0x1000u;  // half of the dropped 13 bits: a carry may round into the exponent
    u &= 0xffffe000u;
  }
  std::memcpy(&x, &u, 4);
  return x;
}

template <class Use, int M, int N, int K, class T, class Layout>
inline void fill_fragment(fragment<Use, M, N, K, T, Layout>& f, float v) {
  for (int e = 0; e < f.num_elements; ++e) f.x[e] = v;
  __syncwarp();
}

namespace emu {
template <class Frag>
inline void load(Frag& f, const float* p, unsigned ldm, bool row_major_memory) {
  check_pointer(p, ldm);
  constexpr int cols = Frag::shape::cols;
  const unsigned l = lane();
  for (int e = 0; e < Frag::num_elements; ++e) {
    const int idx = static_cast<int>(l) * Frag::num_elements + e, r = idx / cols, c = idx % cols;
    f.x[e] = row_major_memory ? p[r * ldm + c] : p[c * ldm + r];
  }
  __syncwarp();
}
}  // namespace emu

template <class Use, int M, int N, int K, class T>
inline void load_matrix_sync(fragment<Use, M, N, K, T, row_major>& f, const float* p, unsigned ldm) {
  emu::load(f, p, ldm, true);
}
template <class Use, int M, int N, int K, class T>
inline void load_matrix_sync(fragment<Use, M, N, K, T, col_major>& f, const float* p, unsigned ldm) {
  emu::load(f, p, ldm, false);
}
template <int M, int N, int K>
inline void load_matrix_sync(fragment<accumulator, M, N, K, float>& f, const float* p,
                             unsigned ldm, layout_t layout) {
  emu::load(f, p, ldm, layout == mem_row_major);
}

template <int M, int N, int K>
inline void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f,
                              unsigned ldm, layout_t layout) {
  emu::check_pointer(p, ldm);
  using Frag = fragment<accumulator, M, N, K, float>;
  const unsigned l = emu::lane();
  for (int e = 0; e < Frag::num_elements; ++e) {
    const int idx = static_cast<int>(l) * Frag::num_elements + e, r = idx / N, c = idx % N;
    (layout == mem_row_major ? p[r * ldm + c] : p[c * ldm + r]) = f.x[e];
  }
  __syncwarp();
}

// d = a @ b + c over the warp (d may be c).
template <class LayoutA, class LayoutB>
inline void mma_sync(fragment<accumulator, 16, 16, 8, float>& d,
                     const fragment<matrix_a, 16, 16, 8, precision::tf32, LayoutA>& a,
                     const fragment<matrix_b, 16, 16, 8, precision::tf32, LayoutB>& b,
                     const fragment<accumulator, 16, 16, 8, float>& c) {
  const unsigned l = emu::lane();
  emu::MmaScratch& s = emu::scratch(emu::linear_thread() / 32);
  for (int e = 0; e < 4; ++e) {
    s.a[l * 4 + e] = emu::tf32_truncate(a.x[e]);
    s.b[l * 4 + e] = emu::tf32_truncate(b.x[e]);
  }
  for (int e = 0; e < 8; ++e) s.c[l * 8 + e] = c.x[e];
  __syncwarp();  // every lane's part is in
  float out[8];
  for (int e = 0; e < 8; ++e) {
    const int idx = static_cast<int>(l) * 8 + e, r = idx / 16, col = idx % 16;
    float sum = s.c[idx];
    for (int kk = 0; kk < 8; ++kk) sum = fmaf(s.a[r * 8 + kk], s.b[kk * 16 + col], sum);
    out[e] = sum;
  }
  __syncwarp();  // every lane has read the scratch before the next mma_sync overwrites it
  for (int e = 0; e < 8; ++e) d.x[e] = out[e];
}

}  // namespace nvcuda::wmma
