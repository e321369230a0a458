// kiln CUDA: conv2d forward and backward as implicit GEMMs (kiln/cuda/conv2d.hpp).
//
// The engine (gemm_tile.cuh) asks each gathered operand for element (row, kk) of its
// tile; the gathers below compute it from the convolution's geometry (zero outside the
// padded input, or where no output position reaches an input one), so no im2col buffer
// exists. conv2d_check bounds every tensor by kMaxElements, so the index arithmetic
// inside the kernels is 32-bit (64-bit division is slow on the GPU). Neighbouring threads
// gather neighbouring pixels (the engine's row-fast order), which are neighbouring
// addresses of x or dy at stride 1. The weights of the forward pass are a plain
// k-contiguous matrix operand (float4 loads where C/g*R*S allows).
#include "kiln/cuda/conv2d.hpp"

#include <string>

#include "../cpu/check.hpp"
#include "bias_grad.hpp"
#include "check.hpp"
#include "gemm_epilogue.cuh"
#include "gemm_tile.cuh"

namespace kiln::cuda {
namespace {

using detail::GatherOperand;

// The geometry every gather needs, in 32-bit.
struct Geometry {
  int n, c, h, w, k, r, s, oh, ow;
  int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
  int cg, kg;  // channels per group, in and out

  static Geometry of(const Conv2dParams& p) {
    Geometry g;
    g.n = static_cast<int>(p.n), g.c = static_cast<int>(p.c), g.h = static_cast<int>(p.h);
    g.w = static_cast<int>(p.w), g.k = static_cast<int>(p.k), g.r = static_cast<int>(p.r);
    g.s = static_cast<int>(p.s), g.oh = static_cast<int>(p.out_h()), g.ow = static_cast<int>(p.out_w());
    g.stride_h = static_cast<int>(p.stride_h), g.stride_w = static_cast<int>(p.stride_w);
    g.pad_h = static_cast<int>(p.pad_h), g.pad_w = static_cast<int>(p.pad_w);
    g.dil_h = static_cast<int>(p.dilation_h), g.dil_w = static_cast<int>(p.dilation_w);
    g.cg = static_cast<int>(p.c / p.groups), g.kg = static_cast<int>(p.k / p.groups);
    return g;
  }
};

// im2col(x) of group z: row = output pixel (n, oh, ow), kk = (c, r, s) -> x[n, z*cg + c, ih, iw].
struct ImageColumns {
  const float* x;
  Geometry g;
  struct Row {
    const float* image;  // x[n, z*cg]
    int ih0, iw0;        // the window's top-left corner
  };
  __device__ __forceinline__ Row row(index_t z, index_t r) const {
    const int pixel = static_cast<int>(r);
    const int ow = pixel % g.ow, t = pixel / g.ow, oh = t % g.oh, n = t / g.oh;
    return {x + static_cast<index_t>(n * g.c + static_cast<int>(z) * g.cg) * g.h * g.w,
            oh * g.stride_h - g.pad_h, ow * g.stride_w - g.pad_w};
  }
  __device__ __forceinline__ float at(index_t, const Row& p, index_t kk) const {
    const int q = static_cast<int>(kk);
    const int s = q % g.s, u = q / g.s, r = u % g.r, c = u / g.r;
    const int ih = p.ih0 + r * g.dil_h, iw = p.iw0 + s * g.dil_w;
    if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) return 0.0f;
    return __ldg(p.image + (c * g.h + ih) * g.w + iw);
  }
};

// The same, transposed for dw: row = (c, r, s), kk = output pixel (n, oh, ow).
struct ImageColumnsT {
  const float* x;
  Geometry g;
  struct Row {
    int channel;  // z*cg + c
    int dr, ds;   // the tap's offset from a window's corner
  };
  __device__ __forceinline__ Row row(index_t z, index_t r) const {
    const int q = static_cast<int>(r);
    const int s = q % g.s, u = q / g.s, rr = u % g.r, c = u / g.r;
    return {static_cast<int>(z) * g.cg + c, rr * g.dil_h - g.pad_h, s * g.dil_w - g.pad_w};
  }
  __device__ __forceinline__ float at(index_t, const Row& p, index_t kk) const {
    const int pixel = static_cast<int>(kk);
    const int ow = pixel % g.ow, t = pixel / g.ow, oh = t % g.oh, n = t / g.oh;
    const int ih = oh * g.stride_h + p.dr, iw = ow * g.stride_w + p.ds;
    if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) return 0.0f;
    return __ldg(x + ((n * g.c + p.channel) * g.h + ih) * g.w + iw);
  }
};

// dy of group z as (kg rows, N*OH*OW): row = k, kk = (n, pixel) -> dy[n, z*kg + k, pixel].
struct OutputRows {
  const float* dy;
  Geometry g;
  struct Row {
    const float* plane;  // dy[0, z*kg + k]
  };
  __device__ __forceinline__ Row row(index_t z, index_t r) const {
    return {dy + static_cast<index_t>(static_cast<int>(z) * g.kg + static_cast<int>(r)) * g.oh * g.ow};
  }
  __device__ __forceinline__ float at(index_t, const Row& p, index_t kk) const {
    const int plane = g.oh * g.ow, q = static_cast<int>(kk);
    return __ldg(p.plane + (q / plane) * g.k * plane + q % plane);
  }
};

// w of group z read as (cg rows, kg*R*S): row = c, kk = (k, r, s) -> w[z*kg + k, c, r, s].
struct WeightsT {
  const float* w;
  Geometry g;
  struct Row {
    const float* filter;  // w[z*kg, c]
  };
  __device__ __forceinline__ Row row(index_t z, index_t r) const {
    return {w + static_cast<index_t>(static_cast<int>(z) * g.kg * g.cg + static_cast<int>(r)) * g.r * g.s};
  }
  __device__ __forceinline__ float at(index_t, const Row& p, index_t kk) const {
    const int rs = g.r * g.s, q = static_cast<int>(kk);
    return __ldg(p.filter + (q / rs) * g.cg * rs + q % rs);
  }
};

// The transposed convolution's B: row = input pixel (n, ih, iw), kk = (k, r, s) ->
// dy[n, z*kg + k, oh, ow] for the output position whose tap (r, s) reads (ih, iw), if any.
struct OutputTaps {
  const float* dy;
  Geometry g;
  struct Row {
    const float* image;  // dy[n, z*kg]
    int y0, x0;          // (ih, iw) in padded coordinates
  };
  __device__ __forceinline__ Row row(index_t z, index_t r) const {
    const int pixel = static_cast<int>(r);
    const int iw = pixel % g.w, t = pixel / g.w, ih = t % g.h, n = t / g.h;
    return {dy + static_cast<index_t>(n * g.k + static_cast<int>(z) * g.kg) * g.oh * g.ow, ih + g.pad_h,
            iw + g.pad_w};
  }
  __device__ __forceinline__ float at(index_t, const Row& p, index_t kk) const {
    const int q = static_cast<int>(kk);
    const int s = q % g.s, u = q / g.s, r = u % g.r, k = u / g.r;
    const int y = p.y0 - r * g.dil_h, x = p.x0 - s * g.dil_w;
    if (y < 0 || x < 0 || y % g.stride_h != 0 || x % g.stride_w != 0) return 0.0f;
    const int oh = y / g.stride_h, ow = x / g.stride_w;
    if (oh >= g.oh || ow >= g.ow) return 0.0f;
    return __ldg(p.image + (k * g.oh + oh) * g.ow + ow);
  }
};

// C of group z as (rows = channel in the group, cols = (n, pixel)) scattered into NCHW
// out[n, z*group_channels + row, pixel], with an optional bias per channel.
struct PlanesEpilogue {
  float* out;
  const float* bias;
  int channels, group_channels, plane;

  __device__ __forceinline__ void store(index_t z, index_t row, index_t col, float4 v4,
                                        int count) const {
    const int channel = static_cast<int>(z) * group_channels + static_cast<int>(row);
    const float b = bias ? bias[channel] : 0.0f;
    const float v[4] = {v4.x, v4.y, v4.z, v4.w};
    int q = static_cast<int>(col);
    for (int j = 0; j < count; ++j, ++q) {
      const int n = q / plane, pixel = q % plane;
      out[(static_cast<index_t>(n) * channels + channel) * plane + pixel] = v[j] + b;
    }
  }
};

std::string sizes_of(const Conv2dParams& p) {
  return "x=" + std::to_string(p.n) + "x" + std::to_string(p.c) + "x" + std::to_string(p.h) + "x" +
         std::to_string(p.w) + " w=" + std::to_string(p.k) + "x" + std::to_string(p.c / p.groups) +
         "x" + std::to_string(p.r) + "x" + std::to_string(p.s) + " groups=" + std::to_string(p.groups);
}

}  // namespace

void conv2d_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                    float* y, cudaStream_t stream) {
  constexpr const char* kFn = "conv2d_forward";
  kiln::conv2d_check(p);
  const Geometry g = Geometry::of(p);
  const index_t pixels = static_cast<index_t>(g.n) * g.oh * g.ow;
  if (pixels * g.k == 0) return;
  const index_t depth = static_cast<index_t>(g.cg) * g.r * g.s;
  KILN_CHECK(y != nullptr, kFn << ": y is null");
  KILN_CHECK(depth == 0 || (x != nullptr && w != nullptr), kFn << ": x or w is null");
  using namespace detail;
  const MatrixOperand a = matrix_operand(w, g.kg, depth, depth == 0 ? 1 : depth, true, g.kg * depth);
  GatherOperand<ImageColumns> b{ImageColumns{x, g}, pixels, depth};
  const PlanesEpilogue ep{y, bias, g.k, g.kg, g.oh * g.ow};
  throw_if_failed(gemm_simt(g.kg, pixels, depth, p.groups, a, b, ep, stream), kFn, sizes_of(p));
}

void conv2d_backward(const Conv2dParams& p, const float* x, const float* w, const float* dy,
                     float* dx, float* dw, float* db, cudaStream_t stream, float* workspace) {
  constexpr const char* kFn = "conv2d_backward";
  kiln::conv2d_check(p);
  const Geometry g = Geometry::of(p);
  const index_t out_plane = static_cast<index_t>(g.oh) * g.ow;
  const index_t out_pixels = g.n * out_plane, in_pixels = static_cast<index_t>(g.n) * g.h * g.w;
  const bool dy_empty = out_pixels * g.k == 0;
  KILN_CHECK(dy_empty || dy != nullptr, kFn << ": dy is null");
  KILN_CHECK(!dx || in_pixels * g.c == 0 || g.k == 0 || w != nullptr,
             kFn << ": dx is asked for but w is null");
  const index_t taps = static_cast<index_t>(g.r) * g.s, depth = g.cg * taps;
  KILN_CHECK(!dw || dy_empty || depth == 0 || x != nullptr, kFn << ": dw is asked for but x is null");
  using namespace detail;
  const std::string sizes = sizes_of(p);

  if (db) throw_if_failed(channel_sums(g.n, g.k, out_plane, dy, db, stream), "conv2d_backward (db)", sizes);
  if (dx && in_pixels * g.c > 0) {
    // (cg, N*H*W) per group, depth kg*R*S; with no output (or no filters) it is zero.
    GatherOperand<WeightsT> a{WeightsT{w, g}, g.cg, dy_empty ? 0 : g.kg * taps};
    GatherOperand<OutputTaps> b{OutputTaps{dy, g}, in_pixels, dy_empty ? 0 : g.kg * taps};
    const PlanesEpilogue ep{dx, nullptr, g.c, g.cg, g.h * g.w};
    throw_if_failed(gemm_simt(g.cg, in_pixels, a.depth, p.groups, a, b, ep, stream),
                    "conv2d_backward (dx)", sizes);
  }
  if (dw && g.k * depth > 0) {
    GatherOperand<OutputRows> a{OutputRows{dy, g}, g.kg, dy_empty ? 0 : out_pixels};
    GatherOperand<ImageColumnsT> b{ImageColumnsT{x, g}, depth, a.depth};
    LinearEpilogue ep;
    ep.c = dw;
    ep.ldc = depth;
    ep.batch_stride_c = g.kg * depth;
    ep.vector_ok = vector_aligned(dw) && depth % 4 == 0;
    throw_if_failed(gemm_simt(g.kg, depth, a.depth, p.groups, a, b, ep, stream, workspace,
                              workspace ? conv2d_backward_workspace(p) : 0),
                    "conv2d_backward (dw)", sizes);
  }
}

index_t conv2d_backward_workspace(const Conv2dParams& p) {
  kiln::conv2d_check(p);
  const index_t depth = (p.c / p.groups) * p.r * p.s;
  return detail::gemm_workspace(p.k / p.groups, depth, p.n * p.out_h() * p.out_w(), p.groups);
}

}  // namespace kiln::cuda
