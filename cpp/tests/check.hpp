// A minimal test harness: CHECK(cond) counts failures; main returns their number.
// Guarded<T>: an output buffer with guard values before and after it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

inline int& failures() {
  static int count = 0;
  return count;
}

#define CHECK(cond)                                                      \
  do {                                                                   \
    if (!(cond)) {                                                       \
      std::printf("%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures();                                                      \
    }                                                                    \
  } while (0)

// Relative Frobenius error of `got` against `want` (float64 accumulation).
inline double rel_error(const std::vector<float>& got, const std::vector<double>& want) {
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    diff += (got[i] - want[i]) * (got[i] - want[i]);
    norm += want[i] * want[i];
  }
  return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

// Deterministic pseudo-random floats in [-1, 1).
inline std::vector<float> random_floats(std::size_t n, unsigned seed) {
  std::vector<float> v(n);
  unsigned s = seed * 2654435761u + 1u;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>(s >> 8) / static_cast<float>(1u << 23) - 1.0f;
  }
  return v;
}

// An output of `count` elements with kGuardCount guard elements before and after it, each
// holding one bit pattern (a NaN payload for floats) that no kernel computes: a write
// outside the output changes one of them, which intact() reports. 64 guards cover a whole
// AVX-512 vector of overshoot on either side, 256 bytes each way.
template <typename T>
class Guarded {
 public:
  static constexpr std::size_t kGuardCount = 64;

  explicit Guarded(std::size_t count, T fill = T{}) : count_(count), storage_(count + 2 * kGuardCount) {
    for (std::size_t i = 0; i < storage_.size(); ++i) storage_[i] = guard();
    for (std::size_t i = 0; i < count; ++i) data()[i] = fill;
  }
  explicit Guarded(const std::vector<T>& values) : Guarded(values.size()) {
    std::copy(values.begin(), values.end(), data());
  }

  T* data() { return storage_.data() + kGuardCount; }
  const T* data() const { return storage_.data() + kGuardCount; }
  std::size_t size() const { return count_; }
  T& operator[](std::size_t i) { return data()[i]; }
  std::vector<T> values() const { return std::vector<T>(data(), data() + count_); }

  // Every guard still holds its pattern.
  bool intact() const {
    const T g = guard();
    for (std::size_t i = 0; i < kGuardCount; ++i) {
      if (std::memcmp(&storage_[i], &g, sizeof(T)) != 0) return false;
      if (std::memcmp(&storage_[kGuardCount + count_ + i], &g, sizeof(T)) != 0) return false;
    }
    return true;
  }

 private:
  static T guard() {
    T g;
    if constexpr (sizeof(T) == 4) {
      const std::uint32_t bits = 0x7fa5a5a5u;  // a float NaN with a payload no arithmetic makes
      std::memcpy(&g, &bits, 4);
    } else {
      const std::uint64_t bits = 0x7ff5a5a5a5a5a5a5ull;
      std::memcpy(&g, &bits, 8);
    }
    return g;
  }

  std::size_t count_;
  std::vector<T> storage_;
};

// CHECK_GUARDS(out, "what"): the guards of `out` are intact.
#define CHECK_GUARDS(buffer, what)                                                        \
  do {                                                                                  \
    if (!(buffer).intact()) {                                                           \
      std::printf("%s:%d: %s wrote outside its output\n", __FILE__, __LINE__, what);    \
      ++failures();                                                                     \
    }                                                                                   \
  } while (0)
