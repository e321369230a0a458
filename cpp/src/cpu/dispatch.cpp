#include "dispatch.hpp"

#include "kiln/cpu_info.hpp"

#include "gemm_ukr_portable.hpp"

namespace kiln::detail {
namespace {

CpuKernels portable_kernels() {
  CpuKernels k{};
  k.isa = "portable";
  k.gemm = {"gemm_ukr_portable_4x16", 4, 16, 128, 256, 4096, &gemm_ukr_portable<4, 16>};
  return k;
}

CpuKernels choose_kernels() { return portable_kernels(); }

}  // namespace

const CpuKernels& cpu_kernels() {
  static const CpuKernels chosen = choose_kernels();
  return chosen;
}

}  // namespace kiln::detail

namespace kiln {
const char* cpu_isa() { return detail::cpu_kernels().isa; }
}  // namespace kiln
