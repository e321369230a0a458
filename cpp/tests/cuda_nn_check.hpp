// Tests of the non-GEMM CUDA kernels: device buffers with guard values around them, and
// the comparisons the tests share.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda_check.hpp"

// A device array of n T with kGuard guard elements before and after it, each a bit
// pattern no kernel computes (a NaN payload for floats): intact() reports a write
// outside the array. at_offset shifts the array by `shift` elements inside its
// allocation, to test the kernels' unaligned paths.
template <class T>
class DeviceGuarded {
 public:
  static constexpr std::size_t kGuard = 32;

  explicit DeviceGuarded(std::size_t n, std::size_t shift = 0) : n_(n), shift_(shift) {
    CUDA_OK(cudaMalloc(&base_, (n + 2 * kGuard + shift) * sizeof(T)));
    std::vector<T> image(n + 2 * kGuard + shift, guard());
    CUDA_OK(cudaMemcpy(base_, image.data(), image.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  DeviceGuarded(const std::vector<T>& host, std::size_t shift = 0) : DeviceGuarded(host.size(), shift) {
    upload(host);
  }
  DeviceGuarded(const DeviceGuarded&) = delete;
  DeviceGuarded& operator=(const DeviceGuarded&) = delete;
  ~DeviceGuarded() { cudaFree(base_); }

  T* get() const { return base_ + kGuard + shift_; }
  std::size_t size() const { return n_; }
  void upload(const std::vector<T>& host) {
    if (!host.empty())
      CUDA_OK(cudaMemcpy(get(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  std::vector<T> download() const {
    CUDA_OK(cudaDeviceSynchronize());
    std::vector<T> host(n_);
    if (n_) CUDA_OK(cudaMemcpy(host.data(), get(), n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }
  bool intact() const {
    CUDA_OK(cudaDeviceSynchronize());
    std::vector<T> image(n_ + 2 * kGuard + shift_);
    CUDA_OK(cudaMemcpy(image.data(), base_, image.size() * sizeof(T), cudaMemcpyDeviceToHost));
    const T g = guard();
    for (std::size_t i = 0; i < kGuard + shift_; ++i)
      if (std::memcmp(&image[i], &g, sizeof(T)) != 0) return false;
    for (std::size_t i = kGuard + shift_ + n_; i < image.size(); ++i)
      if (std::memcmp(&image[i], &g, sizeof(T)) != 0) return false;
    return true;
  }
  static T guard() {
    T g;
    if constexpr (sizeof(T) == 4) {
      const std::uint32_t bits = 0x7fc0deadu;
      std::memcpy(&g, &bits, 4);
    } else {
      const std::uint64_t bits = 0x7ff8deadbeef0badull;
      std::memcpy(&g, &bits, 8);
    }
    return g;
  }

 private:
  T* base_ = nullptr;
  std::size_t n_, shift_;
};

inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
}

// Elementwise |got - want| <= abs + rel * |want|, NaN matching NaN; prints the first miss.
inline bool close(const std::vector<float>& got, const std::vector<float>& want, double rel, double abs,
                  const char* what) {
  if (got.size() != want.size()) {
    std::printf("%s: %zu values, want %zu\n", what, got.size(), want.size());
    return false;
  }
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    if (std::isnan(w) && std::isnan(g)) continue;
    if (std::isinf(w) && g == w) continue;
    if (!(std::fabs(g - w) <= abs + rel * std::fabs(w))) {
      std::printf("%s: [%zu] = %.9g, want %.9g\n", what, i, g, w);
      return false;
    }
  }
  return true;
}

// The message of the std::invalid_argument that f throws, or "" (and a failure) if none.
inline std::string invalid_argument_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  } catch (const std::exception& e) {
    std::printf("threw another exception: %s\n", e.what());
    return "";
  }
  return "";
}
