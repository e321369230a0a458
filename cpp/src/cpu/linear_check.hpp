// Internal: linear_backward's argument checks, shared by the CPU kernel and the CUDA one
// (kiln/cuda/linear.hpp), so both refuse the same params with the same messages.
#pragma once

#include "kiln/linear.hpp"

namespace kiln::detail {

// Throws std::invalid_argument for a negative size or an activation that is not fused.
void linear_backward_check(const LinearBackwardParams& p);

}  // namespace kiln::detail
