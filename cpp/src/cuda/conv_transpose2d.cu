// kiln CUDA: conv_transpose2d on conv2d's implicit GEMMs (kiln/cuda/conv_transpose2d.hpp).
#include "kiln/cuda/conv_transpose2d.hpp"

#include <string>

#include "../cpu/check.hpp"
#include "bias_grad.hpp"
#include "check.hpp"
#include "device_util.cuh"
#include "kiln/cuda/conv2d.hpp"
#include "launch.hpp"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 256;

// y[(n, k), q] += bias[k] over planes of `plane` elements: consecutive threads, consecutive q.
__global__ void __launch_bounds__(kThreads)
    add_channel_bias_kernel(index_t total, index_t plane, index_t channels, const float* __restrict__ bias,
                            float* __restrict__ y) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t e = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride)
    y[e] += __ldg(bias + (e / plane) % channels);
}

std::string sizes_of(const ConvTranspose2dParams& p) {
  return "x=" + std::to_string(p.n) + "x" + std::to_string(p.c) + "x" + std::to_string(p.h) + "x" +
         std::to_string(p.w) + " w=" + std::to_string(p.c) + "x" + std::to_string(p.k / p.groups) + "x" +
         std::to_string(p.r) + "x" + std::to_string(p.s) + " groups=" + std::to_string(p.groups);
}

}  // namespace

void conv_transpose2d_forward(const ConvTranspose2dParams& p, const float* x, const float* w,
                              const float* bias, float* y, cudaStream_t stream) {
  constexpr const char* kFn = "conv_transpose2d_forward";
  kiln::conv_transpose2d_check(p);
  const index_t plane = p.out_h() * p.out_w(), total = p.n * p.k * plane;
  if (total == 0) return;
  KILN_CHECK(y != nullptr && (p.c == 0 || (x != nullptr && w != nullptr)), kFn << ": x, w or y is null");
  conv2d_backward(p.as_conv2d(), nullptr, w, x, y, nullptr, nullptr, stream);
  if (!bias) return;
  detail::throw_if_failed(launch(add_channel_bias_kernel, dim3(detail::grid_for(total, kThreads)), dim3(kThreads),
                                 0, stream, total, plane, p.k, bias, y),
                          "conv_transpose2d_forward (bias)", sizes_of(p));
}

void conv_transpose2d_backward(const ConvTranspose2dParams& p, const float* x, const float* w,
                               const float* dy, float* dx, float* dw, float* db, cudaStream_t stream) {
  constexpr const char* kFn = "conv_transpose2d_backward";
  kiln::conv_transpose2d_check(p);
  const Conv2dParams q = p.as_conv2d();
  const index_t plane = p.out_h() * p.out_w();
  KILN_CHECK(p.n * p.k * plane == 0 || dy != nullptr, kFn << ": dy is null");
  if (db) {
    detail::throw_if_failed(detail::channel_sums(p.n, p.k, plane, dy, db, stream), "conv_transpose2d_backward (db)",
                            sizes_of(p));
  }
  if (dx) {
    KILN_CHECK(p.k == 0 || w != nullptr, kFn << ": dx is asked for but w is null");
    conv2d_forward(q, dy, w, nullptr, dx, stream);
  }
  if (dw) {
    KILN_CHECK(p.n * p.c * p.h * p.w == 0 || x != nullptr, kFn << ": dw is asked for but x is null");
    conv2d_backward(q, dy, w, x, nullptr, dw, nullptr, stream);
  }
}

}  // namespace kiln::cuda
