// kiln's emulated device: the CUDA C++ language as kernel sources see it, for a host
// compiler (what cpp/src/cuda/cuda_compat.hpp includes when it is not nvcc).
//
// Why: the .cu files of cpp/src/cuda/ compile unchanged as C++ (KILN_CUDA=EMULATE). The
// execution-space qualifiers vanish, the built-in variables are per-OS-thread variables
// the scheduler sets (block_runner.cpp), and every synchronising intrinsic calls into the
// scheduler (device_calls.hpp). `__shared__` is deliberately not defined: kernels declare
// shared memory with KILN_SHARED / KILN_DYNAMIC_SHARED (cuda_compat.hpp), which give one
// buffer per block here and plain __shared__ under nvcc.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "atomics.hpp"
#include "device_calls.hpp"
#include "device_math.hpp"
#include "kiln/cuda/emulated/runtime_api.hpp"
#include "launch.hpp"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __constant__
// __restrict__ is a keyword of GCC and Clang already.

extern __thread uint3 threadIdx;
extern __thread uint3 blockIdx;
extern __thread dim3 blockDim;
extern __thread dim3 gridDim;
constexpr int warpSize = 32;

inline void __syncthreads() { kiln::cuda_emu::sync_threads(0); }
inline int __syncthreads_count(int predicate) { return kiln::cuda_emu::sync_threads(predicate).count; }
inline int __syncthreads_and(int predicate) {
  const kiln::cuda_emu::BarrierCounts c = kiln::cuda_emu::sync_threads(predicate);
  return c.count == c.participants;
}
inline int __syncthreads_or(int predicate) { return kiln::cuda_emu::sync_threads(predicate).count != 0; }

// Only the memory model of one block running at a time is emulated (docs/DESIGN.md).
inline void __threadfence() { std::atomic_signal_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_signal_fence(std::memory_order_seq_cst); }
[[noreturn]] inline void __trap() { kiln::cuda_emu::trap(); }

namespace kiln::cuda_emu {

template <class T>
std::uint64_t to_lane_bits(T v) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8,
                "warp shuffles move scalars of up to 8 bytes, as CUDA's do");
  std::uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  return bits;
}

template <class T>
T from_lane_bits(std::uint64_t bits) {
  T v;
  std::memcpy(&v, &bits, sizeof(T));
  return v;
}

template <class T>
T shuffle(WarpOp op, unsigned mask, T var, int arg, int width) {
  return from_lane_bits<T>(warp_collective(op, mask, to_lane_bits(var), arg, width));
}

// KILN_SHARED's storage: a T (an array type) per block.
template <class T>
T& static_shared(const void* tag) {
  static_assert(std::is_trivially_destructible_v<T>, "__shared__ variables have no destructor");
  return *static_cast<T*>(static_shared_bytes(tag, sizeof(T), alignof(T)));
}

template <class T>
T* dynamic_shared() {
  return static_cast<T*>(dynamic_shared_bytes());
}

}  // namespace kiln::cuda_emu

template <class T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize) {
  return kiln::cuda_emu::shuffle(kiln::cuda_emu::WarpOp::shfl_idx, mask, var, src_lane, width);
}
template <class T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  return kiln::cuda_emu::shuffle(kiln::cuda_emu::WarpOp::shfl_up, mask, var,
                                 static_cast<int>(delta), width);
}
template <class T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  return kiln::cuda_emu::shuffle(kiln::cuda_emu::WarpOp::shfl_down, mask, var,
                                 static_cast<int>(delta), width);
}
template <class T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize) {
  return kiln::cuda_emu::shuffle(kiln::cuda_emu::WarpOp::shfl_xor, mask, var, lane_mask, width);
}
inline unsigned __ballot_sync(unsigned mask, int predicate) {
  return static_cast<unsigned>(
      kiln::cuda_emu::warp_collective(kiln::cuda_emu::WarpOp::ballot, mask, predicate != 0, 0, 32));
}
inline int __any_sync(unsigned mask, int predicate) {
  return static_cast<int>(
      kiln::cuda_emu::warp_collective(kiln::cuda_emu::WarpOp::any, mask, predicate != 0, 0, 32));
}
inline int __all_sync(unsigned mask, int predicate) {
  return static_cast<int>(
      kiln::cuda_emu::warp_collective(kiln::cuda_emu::WarpOp::all, mask, predicate != 0, 0, 32));
}
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  kiln::cuda_emu::warp_collective(kiln::cuda_emu::WarpOp::sync, mask, 0, 0, 32);
}
