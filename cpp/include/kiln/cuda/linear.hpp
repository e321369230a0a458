// kiln CUDA: backward of a fully connected layer with a fused activation, on the device.
//
//   x (m, in), w (out, in) when weight_is_out_by_in else (in, out), y and dy (m, out)
//   scratch (m, out): dz = dy * act'(y) when activation != none (may be dy itself)
//   dx (m, in), dw (w's shape), db (out,): each computed and overwritten unless null
//
// kiln::linear_backward (kiln/linear.hpp) on device pointers, asynchronous on `stream`:
// one pointwise pass for dz, the GEMMs on the tiled engine (transposes are strides), and
// db as a column reduction with warp shuffles. Results agree with the CPU within float32
// rounding of the sums. Throws std::invalid_argument for bad parameters (before
// launching), std::runtime_error naming the kernel and the sizes when a launch fails.
#pragma once

#include "kiln/common.hpp"
#include "kiln/cuda/runtime.hpp"
#include "kiln/linear.hpp"

namespace kiln::cuda {

void linear_backward(const LinearBackwardParams& p, const float* x, const float* w, const float* y,
                     const float* dy, float* scratch, float* dx, float* dw, float* db,
                     cudaStream_t stream = 0, float* workspace = nullptr);

// Floats of the optional `workspace` that lets dw split its reduction over m across the
// device when out x in is too small to fill it (0: no use for one), on the current device.
index_t linear_backward_workspace(const LinearBackwardParams& p);

}  // namespace kiln::cuda
