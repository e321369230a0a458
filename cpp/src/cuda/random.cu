// kiln CUDA: uniform, normal and dropout fills from Philox4x32-10 (kiln/cuda/random.hpp).
//
// One thread per counter block (four elements) in a grid-stride loop: a Philox call is
// ~40 integer multiplies, so the fills are bound by the stores, as a memset is. Element
// e = offset + i depends on (seed, e) alone, never on the grid, so every launch shape and
// both devices draw the same bits.
#include "kiln/cuda/random.hpp"

#include <string>

#include "../cpu/check.hpp"
#include "check.hpp"
#include "device_util.cuh"
#include "launch.hpp"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 256;
constexpr float kTwoPi = 6.28318530717958647692f;
constexpr float kTwoToMinus24 = 1.0f / 16777216.0f;

enum class Fill { uniform, normal, dropout };

__device__ __forceinline__ float uniform_of(std::uint32_t w) {
  return static_cast<float>(w >> 8) * kTwoToMinus24;
}

struct FillArgs {
  std::uint64_t seed, offset;
  index_t n;
  float a, b;  // normal: mean, std; dropout: p, 1 / (1 - p)
  float* out;  // uniform, normal: the values; dropout: the mask or null
  const float* x;  // dropout only, or null
  float* y;
};

template <Fill kFill>
__global__ void __launch_bounds__(kThreads) fill_kernel(FillArgs f) {
  const std::uint64_t first_block = f.offset / 4;
  const std::uint64_t blocks = (f.offset + static_cast<std::uint64_t>(f.n) + 3) / 4 - first_block;
  const std::uint64_t stride = static_cast<std::uint64_t>(blockDim.x) * gridDim.x;
  for (std::uint64_t k = static_cast<std::uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < blocks;
       k += stride) {
    const std::uint64_t block = first_block + k;
    const Philox4 r = philox_block(f.seed, block);
    float v[4];
    if constexpr (kFill == Fill::normal) {
      for (int pair = 0; pair < 2; ++pair) {
        const float u1 = static_cast<float>((r.v[2 * pair] >> 8) + 1u) * kTwoToMinus24;  // (0, 1]
        const float u2 = uniform_of(r.v[2 * pair + 1]);
        const float radius = sqrtf(__fmul_rn(-2.0f, logf(u1)));
        const float angle = __fmul_rn(kTwoPi, u2);
        v[2 * pair] = __fmaf_rn(f.b, __fmul_rn(radius, cosf(angle)), f.a);
        v[2 * pair + 1] = __fmaf_rn(f.b, __fmul_rn(radius, sinf(angle)), f.a);
      }
    } else {
      for (int w = 0; w < 4; ++w) v[w] = uniform_of(r.v[w]);
    }
    for (int w = 0; w < 4; ++w) {
      const std::uint64_t e = 4 * block + w;
      if (e < f.offset || e >= f.offset + static_cast<std::uint64_t>(f.n)) continue;
      const index_t i = static_cast<index_t>(e - f.offset);
      if constexpr (kFill == Fill::dropout) {
        const float m = v[w] >= f.a ? f.b : 0.0f;
        if (f.out) f.out[i] = m;
        if (f.y) f.y[i] = __fmul_rn(f.x[i], m);
      } else {
        f.out[i] = v[w];
      }
    }
  }
}

template <Fill kFill>
void run(const char* fn, const FillArgs& f, cudaStream_t stream) {
  const index_t blocks = (f.n + 3) / 4 + 1;  // counter blocks touched, at most
  detail::throw_if_failed(launch(fill_kernel<kFill>, dim3(detail::grid_for(blocks, kThreads)), dim3(kThreads),
                                 0, stream, f),
                          fn, "n=" + std::to_string(f.n) + " offset=" + std::to_string(f.offset));
}

void check_n(const char* fn, index_t n, std::uint64_t offset) {
  KILN_CHECK(n >= 0, fn << ": n must be >= 0, got " << n);
  kiln::detail::checked_size(fn, "out", n);
  KILN_CHECK(offset <= ~0ull - static_cast<std::uint64_t>(n) - 3,
             fn << ": offset " << offset << " + n " << n << " overflows the 64-bit counter");
}

}  // namespace

void random_uniform(float* out, index_t n, std::uint64_t seed, std::uint64_t offset, cudaStream_t stream) {
  constexpr const char* kFn = "random_uniform";
  check_n(kFn, n, offset);
  if (n == 0) return;
  KILN_CHECK(out != nullptr, kFn << ": out is null");
  run<Fill::uniform>(kFn, FillArgs{seed, offset, n, 0.0f, 0.0f, out, nullptr, nullptr}, stream);
}

void random_normal(float* out, index_t n, std::uint64_t seed, std::uint64_t offset, float mean, float std,
                   cudaStream_t stream) {
  constexpr const char* kFn = "random_normal";
  check_n(kFn, n, offset);
  KILN_CHECK(std >= 0.0f, kFn << ": std must be >= 0, got " << std);
  if (n == 0) return;
  KILN_CHECK(out != nullptr, kFn << ": out is null");
  run<Fill::normal>(kFn, FillArgs{seed, offset, n, mean, std, out, nullptr, nullptr}, stream);
}

void random_dropout(float* mask, const float* x, float* y, index_t n, float p, std::uint64_t seed,
                    std::uint64_t offset, cudaStream_t stream) {
  constexpr const char* kFn = "random_dropout";
  check_n(kFn, n, offset);
  KILN_CHECK(p >= 0.0f && p <= 1.0f, kFn << ": p must be in [0, 1], got " << p);
  KILN_CHECK((x == nullptr) == (y == nullptr), kFn << ": x and y go together");
  if (n == 0) return;
  KILN_CHECK(mask != nullptr || y != nullptr, kFn << ": nothing to write: mask and y are null");
  // p == 1: every element is dropped (uniform < 1 always), the scale never used.
  const float scale = p < 1.0f ? static_cast<float>(1.0 / (1.0 - static_cast<double>(p))) : 0.0f;
  run<Fill::dropout>(kFn, FillArgs{seed, offset, n, p, scale, mask, x, y}, stream);
}

}  // namespace kiln::cuda
