// kiln._cuda: transposed convolution and adaptive pooling (kiln/cuda/conv_transpose2d.hpp,
// kiln/cuda/adaptive_pool2d.hpp). Device pointers and the stream as integers (0: null, or
// the default stream), sizes as plain ints; the C++ kernels check every parameter.
#include <cstdint>

#include "bindings.hpp"
#include "kiln/cuda/adaptive_pool2d.hpp"
#include "kiln/cuda/conv_transpose2d.hpp"

namespace py = pybind11;

namespace kiln::python::cuda {
namespace {

using ptr_t = std::uintptr_t;

const float* in(ptr_t p) { return as_pointer<const float>(p); }
float* out(ptr_t p) { return as_pointer<float>(p); }

AdaptivePool2dParams adaptive_params(index_t n, index_t c, index_t h, index_t w, index_t out_h, index_t out_w) {
  AdaptivePool2dParams p;
  p.n = n, p.c = c, p.h = h, p.w = w, p.out_h = out_h, p.out_w = out_w;
  return p;
}

ConvTranspose2dParams transpose_params(index_t n, index_t c, index_t h, index_t w, index_t k, index_t r, index_t s,
                                       index_t stride_h, index_t stride_w, index_t pad_h, index_t pad_w,
                                       index_t output_pad_h, index_t output_pad_w, index_t dilation_h,
                                       index_t dilation_w, index_t groups) {
  ConvTranspose2dParams p;
  p.n = n, p.c = c, p.h = h, p.w = w, p.k = k, p.r = r, p.s = s;
  p.stride_h = stride_h, p.stride_w = stride_w, p.pad_h = pad_h, p.pad_w = pad_w;
  p.output_pad_h = output_pad_h, p.output_pad_w = output_pad_w;
  p.dilation_h = dilation_h, p.dilation_w = dilation_w, p.groups = groups;
  return p;
}

}  // namespace

void bind_conv_pool(py::module_& m) {
  const auto release = py::call_guard<py::gil_scoped_release>();
  m.def(
      "conv_transpose2d_forward",
      [](ptr_t x, ptr_t w, ptr_t bias, ptr_t y, index_t n, index_t c, index_t h, index_t w_, index_t k, index_t r,
         index_t s, index_t stride_h, index_t stride_w, index_t pad_h, index_t pad_w, index_t output_pad_h,
         index_t output_pad_w, index_t dilation_h, index_t dilation_w, index_t groups, ptr_t stream) {
        ::kiln::cuda::conv_transpose2d_forward(
            transpose_params(n, c, h, w_, k, r, s, stride_h, stride_w, pad_h, pad_w, output_pad_h, output_pad_w,
                             dilation_h, dilation_w, groups),
            in(x), in(w), in(bias), out(y), as_stream(stream));
      },
      release, "kiln::cuda::conv_transpose2d_forward: x (n, c, h, w), w (c, k/groups, r, s), y (n, k, OH, OW).");
  m.def(
      "conv_transpose2d_backward",
      [](ptr_t x, ptr_t w, ptr_t dy, ptr_t dx, ptr_t dw, ptr_t db, index_t n, index_t c, index_t h, index_t w_,
         index_t k, index_t r, index_t s, index_t stride_h, index_t stride_w, index_t pad_h, index_t pad_w,
         index_t output_pad_h, index_t output_pad_w, index_t dilation_h, index_t dilation_w, index_t groups,
         ptr_t stream) {
        ::kiln::cuda::conv_transpose2d_backward(
            transpose_params(n, c, h, w_, k, r, s, stride_h, stride_w, pad_h, pad_w, output_pad_h, output_pad_w,
                             dilation_h, dilation_w, groups),
            in(x), in(w), in(dy), out(dx), out(dw), out(db), as_stream(stream));
      },
      release, "kiln::cuda::conv_transpose2d_backward; 0 for a gradient not asked for.");
  m.def(
      "adaptive_avg_pool2d_forward",
      [](ptr_t x, ptr_t y, index_t n, index_t c, index_t h, index_t w, index_t out_h, index_t out_w, ptr_t stream) {
        ::kiln::cuda::adaptive_avg_pool2d_forward(adaptive_params(n, c, h, w, out_h, out_w), in(x), out(y),
                                                  as_stream(stream));
      },
      release, "y (n, c, out_h, out_w) = adaptive_avg_pool2d(x (n, c, h, w)).");
  m.def(
      "adaptive_avg_pool2d_backward",
      [](ptr_t dy, ptr_t dx, index_t n, index_t c, index_t h, index_t w, index_t out_h, index_t out_w,
         ptr_t stream) {
        ::kiln::cuda::adaptive_avg_pool2d_backward(adaptive_params(n, c, h, w, out_h, out_w), in(dy), out(dx),
                                                   as_stream(stream));
      },
      release, "dx (n, c, h, w) = the gradient of adaptive_avg_pool2d given dy (n, c, out_h, out_w).");
  m.def(
      "adaptive_max_pool2d_forward",
      [](ptr_t x, ptr_t y, ptr_t indices, index_t n, index_t c, index_t h, index_t w, index_t out_h, index_t out_w,
         ptr_t stream) {
        ::kiln::cuda::adaptive_max_pool2d_forward(adaptive_params(n, c, h, w, out_h, out_w), in(x), out(y),
                                                  as_pointer<std::int64_t>(indices), as_stream(stream));
      },
      release, "y and indices (int64, h * W + w; 0: not returned) = adaptive_max_pool2d(x).");
  m.def(
      "adaptive_max_pool2d_backward",
      [](ptr_t dy, ptr_t indices, ptr_t dx, index_t n, index_t c, index_t h, index_t w, index_t out_h, index_t out_w,
         ptr_t stream) {
        ::kiln::cuda::adaptive_max_pool2d_backward(adaptive_params(n, c, h, w, out_h, out_w), in(dy),
                                                   as_pointer<const std::int64_t>(indices), out(dx),
                                                   as_stream(stream));
      },
      release, "dx = 0, then dy scattered into the positions indices name (checked on the device first).");
}

}  // namespace kiln::python::cuda
