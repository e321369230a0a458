// kiln: the CUDA runtime API as kiln's CUDA headers and programs see it.
//
// KILN_CUDA=ON: the toolkit's <cuda_runtime.h>. KILN_CUDA=EMULATE (kiln::kiln then
// defines KILN_CUDA_EMULATED for everything that links it): kiln's emulated device,
// which declares the same names (kiln/cuda/emulated/runtime_api.hpp), so a program
// written against this header runs on either.
#pragma once

#if defined(KILN_CUDA_EMULATED)
#include "kiln/cuda/emulated/runtime_api.hpp"
#else
#include <cuda_runtime.h>
#endif
