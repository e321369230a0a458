// kiln._cuda: layer norm and batch norm (kiln/cuda/norm.hpp). Device pointers and the stream
// as integers (0: null / the default stream), sizes as ints; the Python backend lays out
// the arrays (float32, C-contiguous).
#include <pybind11/pybind11.h>

#include <cstdint>

#include "bindings.hpp"
#include "kiln/cuda/norm.hpp"

namespace py = pybind11;
using kiln::index_t;
using ptr_t = std::uintptr_t;

namespace kiln::python::cuda {

void bind_norm(py::module_& m) {
  const auto release = py::call_guard<py::gil_scoped_release>();
  m.def("layer_norm_forward",
        [](index_t rows, index_t cols, float eps, ptr_t x, ptr_t weight, ptr_t bias, ptr_t y, ptr_t mean,
           ptr_t rstd, ptr_t stream) {
          kiln::cuda::layer_norm_forward({rows, cols, eps}, as_pointer<const float>(x),
                                         as_pointer<const float>(weight), as_pointer<const float>(bias),
                                         as_pointer<float>(y), as_pointer<float>(mean), as_pointer<float>(rstd),
                                         as_stream(stream));
        },
        release, "y, mean, rstd = layer_norm(x (rows, cols)).");
  m.def("layer_norm_backward",
        [](index_t rows, index_t cols, ptr_t dy, ptr_t x, ptr_t mean, ptr_t rstd, ptr_t weight, ptr_t dx,
           ptr_t dweight, ptr_t dbias, ptr_t stream) {
          kiln::cuda::layer_norm_backward({rows, cols, 0.0f}, as_pointer<const float>(dy), as_pointer<const float>(x),
                                          as_pointer<const float>(mean), as_pointer<const float>(rstd),
                                          as_pointer<const float>(weight), as_pointer<float>(dx),
                                          as_pointer<float>(dweight), as_pointer<float>(dbias), as_stream(stream));
        },
        release, "dx, dweight, dbias of layer_norm (0: not computed).");
  m.def("batch_norm_forward",
        [](index_t outer, index_t channels, index_t inner, float eps, ptr_t x, ptr_t weight, ptr_t bias,
           ptr_t running_mean, ptr_t running_var, bool training, ptr_t y, ptr_t save_mean, ptr_t save_invstd,
           ptr_t batch_var, ptr_t stream) {
          kiln::cuda::batch_norm_forward({outer, channels, inner, eps}, as_pointer<const float>(x),
                                         as_pointer<const float>(weight), as_pointer<const float>(bias),
                                         as_pointer<const float>(running_mean), as_pointer<const float>(running_var),
                                         training, as_pointer<float>(y), as_pointer<float>(save_mean),
                                         as_pointer<float>(save_invstd), as_pointer<float>(batch_var),
                                         as_stream(stream));
        },
        release, "y = batch_norm(x (outer, C, inner)); the statistics saved.");
  m.def("batch_norm_backward",
        [](index_t outer, index_t channels, index_t inner, ptr_t dy, ptr_t x, ptr_t save_mean, ptr_t save_invstd,
           ptr_t weight, bool training, ptr_t dx, ptr_t dweight, ptr_t dbias, ptr_t stream) {
          kiln::cuda::batch_norm_backward({outer, channels, inner, 0.0f}, as_pointer<const float>(dy),
                                          as_pointer<const float>(x), as_pointer<const float>(save_mean),
                                          as_pointer<const float>(save_invstd), as_pointer<const float>(weight),
                                          training, as_pointer<float>(dx), as_pointer<float>(dweight),
                                          as_pointer<float>(dbias), as_stream(stream));
        },
        release, "dx, dweight, dbias of batch_norm (0: not computed).");
}

}  // namespace kiln::python::cuda
