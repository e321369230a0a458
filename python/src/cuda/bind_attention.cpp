// kiln._cuda: scaled-dot-product attention, forward and backward (kiln/cuda/attention.hpp).
// Device pointers and the stream as integers, sizes as ints (BH folds batch and heads).
#include <pybind11/pybind11.h>

#include <cstdint>

#include "bindings.hpp"
#include "kiln/cuda/attention.hpp"

namespace py = pybind11;
using kiln::index_t;
using ptr_t = std::uintptr_t;

namespace kiln::python::cuda {

void bind_attention(py::module_& m) {
  const auto release = py::call_guard<py::gil_scoped_release>();
  m.def("attention_forward",
        [](index_t bh, index_t tq, index_t tk, index_t d, index_t dv, bool causal, float scale, ptr_t q, ptr_t k,
           ptr_t v, ptr_t out, ptr_t lse, ptr_t stream) {
          kiln::cuda::attention_forward({bh, tq, tk, d, dv, causal, scale}, as_pointer<const float>(q),
                                        as_pointer<const float>(k), as_pointer<const float>(v),
                                        as_pointer<float>(out), as_pointer<float>(lse), as_stream(stream));
        },
        release, "out (BH, Tq, Dv), logsumexp (BH, Tq) = attention of q (BH, Tq, D), k (BH, Tk, D), v (BH, Tk, Dv).");
  m.def("attention_backward",
        [](index_t bh, index_t tq, index_t tk, index_t d, index_t dv, bool causal, float scale, ptr_t dout, ptr_t q,
           ptr_t k, ptr_t v, ptr_t out, ptr_t lse, ptr_t dq, ptr_t dk, ptr_t dvp, ptr_t stream) {
          kiln::cuda::attention_backward({bh, tq, tk, d, dv, causal, scale}, as_pointer<const float>(dout),
                                         as_pointer<const float>(q), as_pointer<const float>(k),
                                         as_pointer<const float>(v), as_pointer<const float>(out),
                                         as_pointer<const float>(lse), as_pointer<float>(dq), as_pointer<float>(dk),
                                         as_pointer<float>(dvp), as_stream(stream));
        },
        release, "dq, dk, dv = the gradient of attention_forward given dout (BH, Tq, Dv).");
}

}  // namespace kiln::python::cuda
