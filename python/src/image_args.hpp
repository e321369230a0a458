// Argument checks shared by the conv2d and pooling bindings: NCHW image batches and
// outputs written in place.
#pragma once

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

}  // namespace kiln::bind
