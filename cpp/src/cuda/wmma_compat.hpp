// kiln CUDA: the warp matrix API (nvcuda::wmma) for kernel sources: <mma.h> under nvcc,
// the emulated device's fragments otherwise (cpp/src/cuda_emu/wmma.hpp, which says what
// it models).
#pragma once

#include "cuda_compat.hpp"

#if defined(__CUDACC__)
#include <mma.h>
#else
#include "../cuda_emu/wmma.hpp"
#endif
