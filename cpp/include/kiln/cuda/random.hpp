// kiln CUDA: counter-based random numbers on the device (Philox4x32-10), reproducible
// from (seed, offset) alone, whatever the launch shape.
//
//   out, mask, x, y: (n,) float32 device arrays
//
// Element i of a fill is drawn from counter block (offset + i) / 4 of the stream keyed by
// the 64-bit seed: Philox4x32-10(counter = (b_lo, b_hi, 0, 0), key = (seed_lo, seed_hi))
// gives four 32-bit words, and element offset + i takes word (offset + i) % 4. So a fill
// of n elements at `offset` equals elements [offset, offset + n) of one long fill, and
// the caller advances its offset by n (rounded up to a multiple of 4, to start the next
// draw on fresh counters) after each call.
//   uniform: (word >> 8) * 2^-24, in [0, 1): 24 random bits, every float32 step there.
//   normal:  Box-Muller on the pair of words (2j, 2j + 1) of a block:
//            u1 = ((w0 >> 8) + 1) * 2^-24 in (0, 1], u2 = (w1 >> 8) * 2^-24,
//            r = sqrt(-2 log u1): even element r cos(2 pi u2), odd one r sin(2 pi u2);
//            then mean + std * that.
//   dropout: mask = uniform >= p ? 1 / (1 - p) : 0 (p in [0, 1); p == 1 drops all), and
//            y = x * mask when x and y are given (mask may then be null).
// philox4x32_10 is the generator itself, callable on the host and the device, for tests
// and for host code that must draw the same bits.
// Throws std::invalid_argument for bad arguments, std::runtime_error on a failed launch.
#pragma once

#include <cstdint>

#include "kiln/common.hpp"
#include "kiln/cuda/runtime.hpp"

#if defined(__CUDACC__)
#define KILN_HOST_DEVICE __host__ __device__
#else
#define KILN_HOST_DEVICE
#endif

namespace kiln::cuda {

struct Philox4 {
  std::uint32_t v[4];
};

// Ten rounds of Philox4x32 (Salmon et al., SC'11) on `counter` under `key`.
KILN_HOST_DEVICE inline Philox4 philox4x32_10(Philox4 counter, std::uint32_t key0, std::uint32_t key1) {
  constexpr std::uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;  // round multipliers
  constexpr std::uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;  // Weyl key increments
  std::uint32_t c0 = counter.v[0], c1 = counter.v[1], c2 = counter.v[2], c3 = counter.v[3];
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = static_cast<std::uint64_t>(kM0) * c0;
    const std::uint64_t p1 = static_cast<std::uint64_t>(kM1) * c2;
    const std::uint32_t hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
    const std::uint32_t hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
    c0 = hi1 ^ c1 ^ key0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ key1;
    c3 = lo0;
    key0 += kW0;
    key1 += kW1;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// The four words of counter block `block` of the stream keyed by `seed`.
KILN_HOST_DEVICE inline Philox4 philox_block(std::uint64_t seed, std::uint64_t block) {
  return philox4x32_10(Philox4{{static_cast<std::uint32_t>(block), static_cast<std::uint32_t>(block >> 32), 0u, 0u}},
                       static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
}

void random_uniform(float* out, index_t n, std::uint64_t seed, std::uint64_t offset,
                    cudaStream_t stream = 0);

void random_normal(float* out, index_t n, std::uint64_t seed, std::uint64_t offset, float mean = 0.0f,
                   float std = 1.0f, cudaStream_t stream = 0);

void random_dropout(float* mask, const float* x, float* y, index_t n, float p, std::uint64_t seed,
                    std::uint64_t offset, cudaStream_t stream = 0);

}  // namespace kiln::cuda
