// conv_transpose2d on conv2d's paths (kiln/conv_transpose2d.hpp): no convolution of its own,
// only the mapping of params, the bias added to the forward and the bias gradient.
#include "kiln/conv_transpose2d.hpp"

#include <algorithm>

#include "check.hpp"
#include "parallel.hpp"

namespace kiln {

index_t ConvTranspose2dParams::out_h() const {
  return (h - 1) * stride_h - 2 * pad_h + dilation_h * (r - 1) + output_pad_h + 1;
}
index_t ConvTranspose2dParams::out_w() const {
  return (w - 1) * stride_w - 2 * pad_w + dilation_w * (s - 1) + output_pad_w + 1;
}

Conv2dParams ConvTranspose2dParams::as_conv2d() const {
  Conv2dParams q;
  q.n = n, q.c = k, q.h = out_h(), q.w = out_w();
  q.k = c, q.r = r, q.s = s;
  q.stride_h = stride_h, q.stride_w = stride_w, q.pad_h = pad_h, q.pad_w = pad_w;
  q.dilation_h = dilation_h, q.dilation_w = dilation_w, q.groups = groups;
  return q;
}

namespace {

void check_params(const ConvTranspose2dParams& p, const char* fn) {
  const index_t sizes[] = {p.n, p.c, p.h, p.w, p.k, p.r, p.s, p.stride_h, p.stride_w, p.pad_h, p.pad_w,
                           p.output_pad_h, p.output_pad_w, p.dilation_h, p.dilation_w, p.groups};
  for (index_t v : sizes) {
    KILN_CHECK(v >= 0 && v <= kMaxElements,
               fn << ": a size or parameter is " << v << ", outside [0, " << kMaxElements << "]");
  }
  KILN_CHECK(p.h >= 1 && p.w >= 1, fn << ": the input planes must not be empty, got (" << p.h << ", " << p.w << ")");
  KILN_CHECK(p.r >= 1 && p.s >= 1, fn << ": the kernel must be at least 1x1, got " << p.r << "x" << p.s);
  KILN_CHECK(p.stride_h >= 1 && p.stride_w >= 1,
             fn << ": stride must be >= 1, got (" << p.stride_h << ", " << p.stride_w << ")");
  KILN_CHECK(p.output_pad_h < p.stride_h && p.output_pad_w < p.stride_w,
             fn << ": output_padding (" << p.output_pad_h << ", " << p.output_pad_w
                << ") must be smaller than stride (" << p.stride_h << ", " << p.stride_w << ")");
  KILN_CHECK(p.dilation_h >= 1 && p.dilation_w >= 1,
             fn << ": dilation must be >= 1, got (" << p.dilation_h << ", " << p.dilation_w << ")");
  KILN_CHECK(p.groups >= 1 && p.c % p.groups == 0 && p.k % p.groups == 0,
             fn << ": groups (" << p.groups << ") must divide the input channels (" << p.c
                << ") and the output channels (" << p.k << ")");
  KILN_CHECK(p.out_h() >= 1 && p.out_w() >= 1,
             fn << ": the output size (" << p.out_h() << ", " << p.out_w() << ") must be positive");
  const Conv2dParams q = p.as_conv2d();
  conv2d_check(q);
  // output_padding < stride makes the conv2d's output exactly the input: a guard all the same.
  KILN_CHECK(q.out_h() == p.h && q.out_w() == p.w, fn << ": internal: conv2d geometry mismatch");
}

void check_null(const char* fn, bool ok) { KILN_CHECK(ok, fn << ": a required pointer is null"); }

}  // namespace

void conv_transpose2d_check(const ConvTranspose2dParams& p) { check_params(p, "conv_transpose2d"); }

void conv_transpose2d_forward(const ConvTranspose2dParams& p, const float* x, const float* w,
                              const float* bias, float* y) {
  constexpr const char* fn = "conv_transpose2d_forward";
  check_params(p, fn);
  const index_t plane = p.out_h() * p.out_w();
  if (p.n * p.k * plane == 0) return;
  check_null(fn, y != nullptr && (p.c == 0 || (x != nullptr && w != nullptr)));
  conv2d_backward(p.as_conv2d(), nullptr, w, x, y, nullptr, nullptr);
  if (!bias) return;
  const int nthreads = detail::threads_for(static_cast<double>(p.n * p.k * plane));
  detail::parallel_for(p.n * p.k, nthreads, [&](index_t i) {
    float* out = y + i * plane;
    const float b = bias[i % p.k];
    for (index_t q = 0; q < plane; ++q) out[q] += b;
  });
}

void conv_transpose2d_backward(const ConvTranspose2dParams& p, const float* x, const float* w,
                               const float* dy, float* dx, float* dw, float* db) {
  constexpr const char* fn = "conv_transpose2d_backward";
  check_params(p, fn);
  const Conv2dParams q = p.as_conv2d();
  const index_t plane = p.out_h() * p.out_w();
  const bool dy_empty = p.n * p.k * plane == 0;
  check_null(fn, dy_empty || dy != nullptr);
  if (db) {
    const int nthreads = detail::threads_for(static_cast<double>(p.n * p.k * plane));
    detail::parallel_for(p.k, nthreads, [&](index_t k) {
      double sum = 0.0;  // a long sum: double keeps it accurate
      for (index_t n = 0; n < p.n; ++n) {
        const float* src = dy + (n * p.k + k) * plane;
        for (index_t i = 0; i < plane; ++i) sum += src[i];
      }
      db[k] = static_cast<float>(sum);
    });
  }
  if (dx) {
    check_null(fn, p.k == 0 || w != nullptr);
    conv2d_forward(q, dy, w, nullptr, dx);
    if (p.n * p.c * p.h * p.w > 0 && dy_empty) std::fill(dx, dx + p.n * p.c * p.h * p.w, 0.0f);
  }
  if (dw) {
    check_null(fn, p.n * p.c * p.h * p.w == 0 || x != nullptr);
    conv2d_backward(q, dy, w, x, nullptr, dw, nullptr);
  }
}

}  // namespace kiln
