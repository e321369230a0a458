// kiln's emulated device: CUDA's atomic functions.
//
// Why real atomics although a launch runs on one OS thread: two host threads may launch
// at once (each on its own OS thread), and a later emulator may run blocks in parallel;
// the GCC/Clang __atomic builtins cost nothing more here. Floating-point forms are a
// compare-and-swap loop on the bits, as CUDA's own fallback for atomicAdd(double*) was.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace kiln::cuda_emu {

template <class F, class Op>
F atomic_float_update(F* address, Op op) {
  using Bits = std::conditional_t<sizeof(F) == 4, std::uint32_t, std::uint64_t>;
  auto* bits = reinterpret_cast<Bits*>(address);
  Bits old_bits = __atomic_load_n(bits, __ATOMIC_RELAXED);
  for (;;) {
    F old_value, new_value;
    std::memcpy(&old_value, &old_bits, sizeof(F));
    new_value = op(old_value);
    Bits new_bits;
    std::memcpy(&new_bits, &new_value, sizeof(F));
    if (__atomic_compare_exchange_n(bits, &old_bits, new_bits, false, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED))
      return old_value;
  }
}

}  // namespace kiln::cuda_emu

#define KILN_EMU_ATOMIC_INTEGER(T)                                                             \
  inline T atomicAdd(T* a, T v) { return __atomic_fetch_add(a, v, __ATOMIC_RELAXED); }        \
  inline T atomicSub(T* a, T v) { return __atomic_fetch_sub(a, v, __ATOMIC_RELAXED); }        \
  inline T atomicExch(T* a, T v) { return __atomic_exchange_n(a, v, __ATOMIC_RELAXED); }      \
  inline T atomicAnd(T* a, T v) { return __atomic_fetch_and(a, v, __ATOMIC_RELAXED); }        \
  inline T atomicOr(T* a, T v) { return __atomic_fetch_or(a, v, __ATOMIC_RELAXED); }          \
  inline T atomicXor(T* a, T v) { return __atomic_fetch_xor(a, v, __ATOMIC_RELAXED); }        \
  inline T atomicCAS(T* a, T compare, T v) {                                                  \
    __atomic_compare_exchange_n(a, &compare, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);   \
    return compare;                                                                           \
  }                                                                                           \
  inline T atomicMax(T* a, T v) {                                                             \
    T old = __atomic_load_n(a, __ATOMIC_RELAXED);                                             \
    while (old < v &&                                                                         \
           !__atomic_compare_exchange_n(a, &old, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) { \
    }                                                                                         \
    return old;                                                                               \
  }                                                                                           \
  inline T atomicMin(T* a, T v) {                                                             \
    T old = __atomic_load_n(a, __ATOMIC_RELAXED);                                             \
    while (v < old &&                                                                         \
           !__atomic_compare_exchange_n(a, &old, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) { \
    }                                                                                         \
    return old;                                                                               \
  }

KILN_EMU_ATOMIC_INTEGER(int)
KILN_EMU_ATOMIC_INTEGER(unsigned)
KILN_EMU_ATOMIC_INTEGER(unsigned long long)
#undef KILN_EMU_ATOMIC_INTEGER

inline long long atomicMax(long long* a, long long v) {
  long long old = __atomic_load_n(a, __ATOMIC_RELAXED);
  while (old < v &&
         !__atomic_compare_exchange_n(a, &old, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}
inline long long atomicMin(long long* a, long long v) {
  long long old = __atomic_load_n(a, __ATOMIC_RELAXED);
  while (v < old &&
         !__atomic_compare_exchange_n(a, &old, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}

// atomicInc/atomicDec wrap at `limit`, as CUDA defines them.
inline unsigned atomicInc(unsigned* a, unsigned limit) {
  unsigned old = __atomic_load_n(a, __ATOMIC_RELAXED);
  while (!__atomic_compare_exchange_n(a, &old, old >= limit ? 0u : old + 1u, false,
                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}
inline unsigned atomicDec(unsigned* a, unsigned limit) {
  unsigned old = __atomic_load_n(a, __ATOMIC_RELAXED);
  while (!__atomic_compare_exchange_n(a, &old, (old == 0u || old > limit) ? limit : old - 1u,
                                      false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}

inline float atomicAdd(float* a, float v) {
  return kiln::cuda_emu::atomic_float_update(a, [v](float x) { return x + v; });
}
inline double atomicAdd(double* a, double v) {
  return kiln::cuda_emu::atomic_float_update(a, [v](double x) { return x + v; });
}
inline float atomicExch(float* a, float v) {
  return kiln::cuda_emu::atomic_float_update(a, [v](float) { return v; });
}
