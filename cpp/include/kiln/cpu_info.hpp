// kiln: which CPU kernels this process runs.
#pragma once

namespace kiln {

// "avx512", "avx2" or "portable": the instruction set of the CPU kernels chosen at
// start-up from CPUID, or forced with the environment variable KILN_CPU.
const char* cpu_isa();

}  // namespace kiln
