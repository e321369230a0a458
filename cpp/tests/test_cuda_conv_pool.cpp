// kiln::cuda conv_transpose2d and adaptive pooling against the CPU's kernels, on the device
// kiln was built for. Odd geometries (stride with output_padding, dilation, groups; windows
// that shrink unevenly, grow and overlap, global pooling, windows wide enough for the
// warp-per-output kernels); a NaN and ties in the max. The max and its indices are exact,
// the rest within float32 rounding of the sums. Guard values after every output; bad
// params refused before anything runs.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "cuda_nn_check.hpp"
#include "kiln/adaptive_pool2d.hpp"
#include "kiln/conv_transpose2d.hpp"
#include "kiln/cuda/adaptive_pool2d.hpp"
#include "kiln/cuda/conv_transpose2d.hpp"

using kiln::index_t;

namespace {

kiln::ConvTranspose2dParams transpose(index_t n, index_t c, index_t h, index_t w, index_t k, index_t r, index_t s,
                                      index_t stride, index_t pad, index_t out_pad, index_t dil, index_t groups) {
  kiln::ConvTranspose2dParams p;
  p.n = n, p.c = c, p.h = h, p.w = w, p.k = k, p.r = r, p.s = s;
  p.stride_h = stride, p.stride_w = stride + 1, p.pad_h = pad, p.pad_w = 0;
  p.output_pad_h = out_pad, p.output_pad_w = out_pad;
  p.dilation_h = dil, p.dilation_w = 1, p.groups = groups;
  return p;
}

void check_transpose(const kiln::ConvTranspose2dParams& p) {
  const std::size_t in = p.n * p.c * p.h * p.w, wn = p.c * (p.k / p.groups) * p.r * p.s;
  const std::size_t out = p.n * p.k * p.out_h() * p.out_w();
  const std::vector<float> x = random_floats(in, 5), w = random_floats(wn, 6), b = random_floats(p.k, 7);
  const std::vector<float> dy = random_floats(out, 8);
  std::vector<float> y(out), dx(in), dw(wn), db(p.k);
  kiln::conv_transpose2d_forward(p, x.data(), w.data(), b.data(), y.data());
  kiln::conv_transpose2d_backward(p, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
  DeviceGuarded<float> xd(x), wd(w), bd(b), dyd(dy), yd(out), dxd(in), dwd(wn), dbd(p.k);
  kiln::cuda::conv_transpose2d_forward(p, xd.get(), wd.get(), bd.get(), yd.get());
  kiln::cuda::conv_transpose2d_backward(p, xd.get(), wd.get(), dyd.get(), dxd.get(), dwd.get(), dbd.get());
  CHECK(close(yd.download(), y, 1e-5, 1e-5, "conv_transpose2d_forward"));
  CHECK(close(dxd.download(), dx, 1e-5, 1e-5, "conv_transpose2d_backward dx"));
  CHECK(close(dwd.download(), dw, 1e-5, 1e-5, "conv_transpose2d_backward dw"));
  CHECK(close(dbd.download(), db, 1e-5, 1e-5, "conv_transpose2d_backward db"));
  CHECK(yd.intact() && dxd.intact() && dwd.intact() && dbd.intact());
}

kiln::AdaptivePool2dParams adaptive(index_t n, index_t c, index_t h, index_t w, index_t oh, index_t ow) {
  kiln::AdaptivePool2dParams p;
  p.n = n, p.c = c, p.h = h, p.w = w, p.out_h = oh, p.out_w = ow;
  return p;
}

void check_adaptive(const kiln::AdaptivePool2dParams& p) {
  const std::size_t in = p.n * p.c * p.h * p.w, out = p.n * p.c * p.out_h * p.out_w;
  std::vector<float> x = random_floats(in, 11 + static_cast<unsigned>(in));
  for (std::size_t i = 3; i < in; i += 7) x[i] = x[i - 1];  // ties: the first maximum wins
  if (in > 9) x[in / 3] = NAN, x[in / 3 + 1] = NAN;           // the last NaN wins
  const std::vector<float> dy = random_floats(out, 12);
  std::vector<float> y(out), ym(out), dx(in), dxm(in);
  std::vector<std::int64_t> idx(out);
  kiln::adaptive_avg_pool2d_forward(p, x.data(), y.data());
  kiln::adaptive_max_pool2d_forward(p, x.data(), ym.data(), idx.data());
  kiln::adaptive_avg_pool2d_backward(p, dy.data(), dx.data());
  kiln::adaptive_max_pool2d_backward(p, dy.data(), idx.data(), dxm.data());
  DeviceGuarded<float> xd(x), yd(out), ymd(out), dyd(dy), dxd(in), dxmd(in);
  DeviceGuarded<std::int64_t> idxd(out);
  kiln::cuda::adaptive_avg_pool2d_forward(p, xd.get(), yd.get());
  kiln::cuda::adaptive_max_pool2d_forward(p, xd.get(), ymd.get(), idxd.get());
  kiln::cuda::adaptive_avg_pool2d_backward(p, dyd.get(), dxd.get());
  kiln::cuda::adaptive_max_pool2d_backward(p, dyd.get(), idxd.get(), dxmd.get());
  const std::vector<float> avg = yd.download();
  std::vector<float> avg_finite = avg, y_finite = y;  // the NaN's windows average to NaN on both
  bool nan_alike = true;
  for (std::size_t i = 0; i < out; ++i) {
    nan_alike &= std::isnan(avg[i]) == std::isnan(y[i]);
    if (std::isnan(y[i])) avg_finite[i] = y_finite[i] = 0.0f;
  }
  CHECK(nan_alike && close(avg_finite, y_finite, 1e-5, 1e-6, "adaptive_avg_pool2d_forward"));
  CHECK(same_bits(ymd.download(), ym));
  CHECK(idxd.download() == idx);
  CHECK(close(dxd.download(), dx, 1e-5, 1e-6, "adaptive_avg_pool2d_backward"));
  CHECK(close(dxmd.download(), dxm, 1e-5, 1e-6, "adaptive_max_pool2d_backward"));
  CHECK(yd.intact() && ymd.intact() && idxd.intact() && dxd.intact() && dxmd.intact());
}

}  // namespace

int main() {
  if (!cuda_device_present()) return kSkipped;
  int cases = 0;
  for (const auto& p : {transpose(2, 3, 5, 4, 4, 3, 3, 1, 0, 0, 1, 1), transpose(2, 4, 3, 5, 6, 3, 2, 2, 1, 1, 1, 2),
                        transpose(1, 2, 4, 3, 2, 2, 3, 3, 0, 2, 2, 1), transpose(1, 6, 2, 2, 3, 1, 1, 2, 0, 1, 1, 3)}) {
    check_transpose(p);
    ++cases;
  }
  for (const auto& p : {adaptive(2, 3, 7, 5, 3, 2), adaptive(2, 3, 6, 9, 1, 1), adaptive(1, 2, 3, 4, 5, 7),
                        adaptive(1, 2, 13, 70, 2, 3), adaptive(1, 1, 1, 1, 1, 1), adaptive(3, 2, 33, 31, 1, 1)}) {
    check_adaptive(p);
    ++cases;
  }
  // Bad parameters: the CPU's checks, before anything runs.
  kiln::ConvTranspose2dParams bad = transpose(1, 2, 4, 4, 2, 3, 3, 2, 0, 2, 1, 1);  // output_padding >= stride
  CHECK(!invalid_argument_of([&] { kiln::cuda::conv_transpose2d_forward(bad, nullptr, nullptr, nullptr, nullptr); })
             .empty());
  CHECK(!invalid_argument_of([&] {
           kiln::cuda::adaptive_avg_pool2d_forward(adaptive(1, 1, 4, 4, 0, 2), nullptr, nullptr);
         }).empty());
  // Empty batch: nothing launched, nothing written.
  kiln::cuda::adaptive_max_pool2d_forward(adaptive(0, 3, 5, 5, 2, 2), nullptr, nullptr, nullptr);
  kiln::cuda::conv_transpose2d_forward(transpose(0, 2, 3, 3, 2, 3, 3, 1, 0, 0, 1, 1), nullptr, nullptr, nullptr,
                                       nullptr);
  cases += 3;
  CUDA_OK(cudaDeviceSynchronize());
  std::printf("%d cases: %s\n", cases, failures() ? "FAILED" : "ok");
  return failures();
}
