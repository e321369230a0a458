// Argument checks shared by the conv2d and pooling bindings: NCHW image batches and
// outputs written in place.
#pragma once

#include <initializer_list>
#include <utility>
#include <vector>

#include "arrays.hpp"

namespace kiln::bind {

// obj must be a float32, C-contiguous, 4-D (N, C, H, W) array (TypeError or ValueError).
inline py::array image_batch(const char* fn, const char* arg, py::handle obj) {
  py::array a = float32_array(fn, arg, obj);
  require_ndim(fn, arg, a, {4});
  require_c_contiguous(fn, arg, a);
  return a;
}

// An output (of a dtype already checked) must have exactly `shape`, be C-contiguous and
// writeable: kernels write straight into it.
inline void require_output(const char* fn, const char* arg, const py::array& a,
                           const std::vector<index_t>& shape) {
  require_shape(fn, arg, a, shape);
  require_c_contiguous(fn, arg, a);
  require_writeable(fn, arg, a);
}

// The three optional gradients of a convolution's backward (null arrays: not asked for), each of
// its shape, writeable, overlapping neither the inputs nor each other.
struct ConvGradients {
  py::array x, weight, bias;
};

inline ConvGradients conv_gradients(const char* fn, py::handle grad_x_obj, py::handle grad_weight_obj,
                                    py::handle grad_bias_obj, const std::vector<index_t>& x_shape,
                                    const std::vector<index_t>& weight_shape, index_t channels_out,
                                    std::initializer_list<std::pair<const char*, const py::array*>> inputs) {
  ConvGradients g{optional_float32_array(fn, "grad_x", grad_x_obj),
                  optional_float32_array(fn, "grad_weight", grad_weight_obj),
                  optional_float32_array(fn, "grad_bias", grad_bias_obj)};
  if (g.x) {
    require_output(fn, "grad_x", g.x, x_shape);
    require_no_overlap(fn, "grad_x", g.x, inputs);
  }
  if (g.weight) {
    require_output(fn, "grad_weight", g.weight, weight_shape);
    require_no_overlap(fn, "grad_weight", g.weight, inputs);
  }
  if (g.bias) {
    require_output(fn, "grad_bias", g.bias, {channels_out});
    require_no_overlap(fn, "grad_bias", g.bias, inputs);
  }
  if (g.x && g.weight) require_no_overlap(fn, "grad_x", g.x, {{"grad_weight", &g.weight}});
  if (g.bias) require_no_overlap(fn, "grad_bias", g.bias, {{"grad_x", &g.x}, {"grad_weight", &g.weight}});
  return g;
}

}  // namespace kiln::bind
