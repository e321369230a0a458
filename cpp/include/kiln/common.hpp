// kiln: common types of the kernel API.
//
// Every kernel is a plain function over raw float32 pointers and a small params
// struct. Tensors are dense and row-major (C order) unless a params struct names
// strides. Kernels check their params before touching memory and throw
// std::invalid_argument with a message naming the kernel and the offending value.
#pragma once

#include <cstdint>

namespace kiln {

using index_t = std::int64_t;

// Largest element count of any one operand. Sizes are int64 in the API, but
// kernels may index inside one operand with 32-bit offsets (packed panels,
// gather tables), so a larger operand is refused rather than silently wrapped.
constexpr index_t kMaxElements = 2147483647;  // INT32_MAX

// Pointwise nonlinearity, used by the activation kernels and by fused epilogues.
enum class Activation : int {
  none = 0,
  relu = 1,
  sigmoid = 2,
  tanh = 3,
  gelu = 4,       // x * Phi(x), exact (erf): torch's approximate='none'
  gelu_tanh = 5,  // torch's approximate='tanh'
};

const char* activation_name(Activation act);

}  // namespace kiln
