// Tests of kiln's CUDA GEMM-shaped kernels: device images of host arrays with guard values
// around them, and the comparison with a CPU result under a bound from the inputs' sizes.
#pragma once

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "cuda_check.hpp"

constexpr float kGuardValue = -98765.4321f;
constexpr int kGuards = 32;

// A device copy of `values`, starting `offset` floats after a kGuards-float guard zone and
// followed by another (offset 1 puts the data off its 16-byte alignment: the scalar paths).
class DeviceImage {
 public:
  explicit DeviceImage(const std::vector<float>& values, int offset = 0)
      : n_(values.size()), offset_(offset), total_(kGuards + offset + values.size() + kGuards) {
    CUDA_OK(cudaMalloc(&base_, total_ * sizeof(float)));
    std::vector<float> image(total_, kGuardValue);
    if (n_ > 0) std::memcpy(image.data() + kGuards + offset, values.data(), n_ * sizeof(float));
    CUDA_OK(cudaMemcpy(base_, image.data(), total_ * sizeof(float), cudaMemcpyHostToDevice));
  }
  explicit DeviceImage(std::size_t n, int offset = 0) : DeviceImage(std::vector<float>(n, 0.0f), offset) {}
  DeviceImage(const DeviceImage&) = delete;
  DeviceImage& operator=(const DeviceImage&) = delete;
  ~DeviceImage() { cudaFree(base_); }

  float* get() const { return base_ + kGuards + offset_; }
  // The values; `intact` tells whether every guard survived.
  std::vector<float> download(bool* intact) const {
    std::vector<float> image(total_);
    CUDA_OK(cudaMemcpy(image.data(), base_, total_ * sizeof(float), cudaMemcpyDeviceToHost));
    bool ok = true;
    for (std::size_t i = 0; i < kGuards + static_cast<std::size_t>(offset_); ++i)
      ok &= image[i] == kGuardValue;
    for (std::size_t i = kGuards + offset_ + n_; i < total_; ++i) ok &= image[i] == kGuardValue;
    *intact = ok;
    return std::vector<float>(image.begin() + kGuards + offset_, image.begin() + kGuards + offset_ + n_);
  }

 private:
  float* base_ = nullptr;
  std::size_t n_;
  int offset_;
  std::size_t total_;
};

// Each got[i] within `bound[i]` of want[i] (NaN matching NaN); prints the first misses.
inline int compare(const char* what, const std::vector<float>& got, const std::vector<float>& want,
                   const std::vector<double>& bound) {
  int bad = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const bool both_nan = std::isnan(got[i]) && std::isnan(want[i]);
    const bool ok = both_nan || (std::fabs(static_cast<double>(got[i]) - want[i]) <= bound[i]);
    if (!ok && bad++ < 3)
      std::printf("  %s[%zu]: got %.9g, want %.9g (bound %.3g)\n", what, i, got[i], want[i], bound[i]);
  }
  return bad;
}

// The bound of a float32 sum of `terms` products whose absolute values add to `magnitude`:
// a few units of float32 rounding per term (either summation order), plus a floor for
// results that cancel to ~0 and pass through an activation.
inline double sum_bound(double terms, double magnitude) {
  return 4.0 * (terms + 4.0) * FLT_EPSILON * magnitude + 1e-6;
}
