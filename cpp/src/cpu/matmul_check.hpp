// Internal: matmul's argument checks, shared by the CPU kernel and the CUDA one
// (kiln/cuda/matmul.hpp), so both refuse the same params with the same messages.
#pragma once

#include "kiln/matmul.hpp"

namespace kiln::detail {

// Throws std::invalid_argument for bad params or a null operand that is needed; returns
// false when there is nothing to compute (an empty batch or C), true otherwise.
bool matmul_check(const MatmulParams& p, const float* a, const float* b, const float* c);

}  // namespace kiln::detail
