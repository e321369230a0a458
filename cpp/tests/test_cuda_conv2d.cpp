// kiln::cuda::conv2d_forward / conv2d_backward against the CPU's kernels.
//
// Shapes with odd sizes, strides, paddings, dilations (also different per axis), groups
// (depthwise included), 1x1 and kernels as large as the padded input, bias or none, a
// batch of images, misaligned buffers; y, dx, dw and db each within a bound from the sum
// of |terms| (the same convolution of |x|, |w| and |dy| on the CPU gives it), guard values
// around every output.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "cuda_gemm_check.hpp"
#include "kiln/conv2d.hpp"
#include "kiln/cuda/conv2d.hpp"

using kiln::index_t;

namespace {

std::vector<float> abs_of(std::vector<float> v) {
  for (float& x : v) x = std::fabs(x);
  return v;
}

std::vector<double> bounds(const std::vector<float>& magnitude, double terms) {
  std::vector<double> b(magnitude.size());
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = sum_bound(terms, magnitude[i]);
  return b;
}

int run(const kiln::Conv2dParams& p, bool with_bias, int offset) {
  const index_t oh = p.out_h(), ow = p.out_w();
  const index_t xs = p.n * p.c * p.h * p.w, ws = p.k * (p.c / p.groups) * p.r * p.s,
                ys = p.n * p.k * oh * ow;
  const std::vector<float> x = random_floats(xs, 21), w = random_floats(ws, 22),
                           bias = random_floats(p.k, 23), dy = random_floats(ys, 24);
  std::vector<float> y(ys), dx(xs), dw(ws), db(p.k), my(ys), mdx(xs), mdw(ws), mdb(p.k);
  kiln::conv2d_forward(p, x.data(), w.data(), with_bias ? bias.data() : nullptr, y.data());
  kiln::conv2d_backward(p, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
  const std::vector<float> ax = abs_of(x), aw = abs_of(w), ab = abs_of(bias), ady = abs_of(dy);
  kiln::conv2d_forward(p, ax.data(), aw.data(), with_bias ? ab.data() : nullptr, my.data());
  kiln::conv2d_backward(p, ax.data(), aw.data(), ady.data(), mdx.data(), mdw.data(), mdb.data());

  DeviceImage d_x(x, offset), d_w(w, offset), d_bias(bias, offset), d_dy(dy, offset);
  DeviceImage d_y(ys, offset), d_dx(xs, offset), d_dw(ws, offset), d_db(p.k, offset);
  kiln::cuda::conv2d_forward(p, d_x.get(), d_w.get(), with_bias ? d_bias.get() : nullptr, d_y.get());
  // A workspace every other case: a deep dw (N*OH*OW) with few filters splits its reduction.
  const bool use_workspace = offset == 0;
  DeviceImage workspace(use_workspace ? kiln::cuda::conv2d_backward_workspace(p) : 0, 0);
  kiln::cuda::conv2d_backward(p, d_x.get(), d_w.get(), d_dy.get(), d_dx.get(), d_dw.get(), d_db.get(), 0,
                              use_workspace ? workspace.get() : nullptr);
  CUDA_OK(cudaDeviceSynchronize());

  const double forward_terms = (p.c / p.groups) * p.r * p.s, dx_terms = (p.k / p.groups) * p.r * p.s,
               dw_terms = p.n * oh * ow;
  bool intact = true, ok = true;
  int bad = compare("y", d_y.download(&ok), y, bounds(my, forward_terms));
  intact &= ok;
  bad += compare("dx", d_dx.download(&ok), dx, bounds(mdx, dx_terms));
  intact &= ok;
  bad += compare("dw", d_dw.download(&ok), dw, bounds(mdw, dw_terms));
  intact &= ok;
  bad += compare("db", d_db.download(&ok), db, bounds(mdb, dw_terms));
  intact &= ok;
  bad += !intact;
  if (bad)
    std::printf("x=%lldx%lldx%lldx%lld w=%lldx%lldx%lld stride=%lld,%lld pad=%lld,%lld dil=%lld,%lld "
                "groups=%lld bias=%d offset=%d: %d bad%s\n",
                (long long)p.n, (long long)p.c, (long long)p.h, (long long)p.w, (long long)p.k,
                (long long)p.r, (long long)p.s, (long long)p.stride_h, (long long)p.stride_w,
                (long long)p.pad_h, (long long)p.pad_w, (long long)p.dilation_h,
                (long long)p.dilation_w, (long long)p.groups, with_bias, offset, bad,
                intact ? "" : " (guards overwritten)");
  return bad;
}

kiln::Conv2dParams conv(index_t n, index_t c, index_t h, index_t w, index_t k, index_t r, index_t s,
                        index_t stride_h = 1, index_t stride_w = 1, index_t pad_h = 0,
                        index_t pad_w = 0, index_t dil_h = 1, index_t dil_w = 1, index_t groups = 1) {
  kiln::Conv2dParams p;
  p.n = n, p.c = c, p.h = h, p.w = w, p.k = k, p.r = r, p.s = s;
  p.stride_h = stride_h, p.stride_w = stride_w, p.pad_h = pad_h, p.pad_w = pad_w;
  p.dilation_h = dil_h, p.dilation_w = dil_w, p.groups = groups;
  return p;
}

}  // namespace

int main() {
  if (!cuda_device_present()) return kSkipped;
  const kiln::Conv2dParams cases[] = {
      conv(1, 1, 1, 1, 1, 1, 1),                     // the smallest
      conv(2, 3, 7, 9, 5, 3, 3, 1, 1, 1, 1),         // 3x3, same padding
      conv(1, 4, 8, 8, 6, 1, 1),                     // 1x1
      conv(3, 2, 9, 7, 3, 3, 2, 2, 3, 1, 0),         // strides, rectangular kernel
      conv(1, 3, 11, 10, 4, 3, 3, 1, 2, 2, 1, 2, 3),  // dilation per axis
      conv(2, 6, 7, 7, 9, 3, 3, 2, 2, 1, 1, 1, 1, 3),  // groups
      conv(1, 8, 6, 5, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8),  // depthwise
      conv(1, 2, 5, 5, 3, 7, 7, 1, 1, 1, 1),         // kernel as large as the padded input
      conv(2, 16, 12, 12, 33, 3, 3, 1, 1, 1, 1),     // many output channels (edges of the tile)
      conv(1, 130, 3, 3, 7, 1, 1),                   // a deep reduction
      conv(2, 4, 17, 19, 2, 5, 3, 3, 2, 2, 1, 2, 1, 2),
      conv(4, 3, 16, 16, 8, 3, 3, 1, 1, 1, 1),         // deep dw: split over N*OH*OW
      conv(3, 4, 20, 20, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2),  // the same with groups
  };
  int n = 0, bad_cases = 0;
  for (const auto& p : cases) {
    bad_cases += run(p, n % 2 == 0, n % 3 == 2 ? 1 : 0) != 0;
    ++n;
  }
  // No input channels: y is the bias; dx and dw are empty, db still sums dy.
  bad_cases += run(conv(2, 0, 4, 4, 3, 2, 2), true, 0) != 0;
  ++n;

  bool threw = false;
  try {
    kiln::cuda::conv2d_forward(conv(1, 3, 5, 5, 4, 3, 3, 1, 1, 0, 0, 1, 1, 2), nullptr, nullptr,
                               nullptr, nullptr);
  } catch (const std::invalid_argument& e) {
    threw = std::strstr(e.what(), "groups") != nullptr;
  }
  CHECK(threw);
  std::printf("%d cases, %d failed\n", n, bad_cases);
  return bad_cases + failures();
}
