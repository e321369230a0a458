// kiln._cuda: adam_step over device buffers (kiln/cuda/adam.hpp), one launch per call.
#include "adam_params.hpp"
#include "bindings.hpp"
#include "kiln/cuda/adam.hpp"

namespace py = pybind11;

namespace kiln::python::cuda {

void bind_adam(py::module_& m) {
  m.def("adam_step", [](index_t n, std::uintptr_t param, std::uintptr_t grad, std::uintptr_t exp_avg,
                        std::uintptr_t exp_avg_sq, std::uintptr_t max_exp_avg_sq, index_t step, double lr,
                        double beta1, double beta2, double eps, double weight_decay, bool decoupled, bool amsgrad,
                        bool maximize, std::uintptr_t stream) {
    const AdamParams p =
        python_args::adam_params(step, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize);
    kiln::cuda::adam_step(p, n, as_pointer<float>(param), as_pointer<const float>(grad), as_pointer<float>(exp_avg),
                          as_pointer<float>(exp_avg_sq), as_pointer<float>(max_exp_avg_sq), as_stream(stream));
  });
}

}  // namespace kiln::python::cuda
